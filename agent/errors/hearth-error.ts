import { ERROR_CATALOG, isErrorCode, type ErrorCode } from './error-catalog.js';

/** An error with a stable code from the catalog; safe to show to the calling app. */
export class HearthError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message ?? ERROR_CATALOG[code].message, options);
    this.name = 'HearthError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return ERROR_CATALOG[this.code].http;
  }

  get grpcStatus(): number {
    return ERROR_CATALOG[this.code].grpc;
  }
}

/** Matches on `code` so errors from another loaded build still count (no `instanceof`). */
export function toHearthError(err: unknown): HearthError {
  if (err instanceof HearthError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (isErrorCode(code)) {
    return new HearthError(code, (err as Error).message, undefined, { cause: err });
  }
  return new HearthError('HEARTH_ERR_INTERNAL', undefined, undefined, { cause: err });
}
