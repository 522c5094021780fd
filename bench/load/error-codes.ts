// Tallies failed requests by error code, so a row can say how many were refused and why (the
// blast-radius rows count their RESOURCE_EXHAUSTED). Codes are read from the error object only,
// never from message text: a wire error's HEARTH_ERR_* `code`, a gRPC error's numeric status.
import { status as GrpcStatus } from '@grpc/grpc-js';

export function errorCodeOf(error: Error): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.length > 0) return code;
  if (typeof code === 'number') return `grpc ${GrpcStatus[code] ?? code}`;
  return 'other';
}

export class ErrorTally {
  readonly #counts = new Map<string, number>();

  add(error: Error): void {
    const code = errorCodeOf(error);
    this.#counts.set(code, (this.#counts.get(code) ?? 0) + 1);
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }
}

/** Sums the tallies of several rounds. */
export function mergeErrorCodes(parts: readonly (Record<string, number> | undefined)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of parts) for (const [code, n] of Object.entries(part ?? {})) out[code] = (out[code] ?? 0) + n;
  return out;
}
