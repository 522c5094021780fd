// The one error type the SDK throws. Callers match on `code` (a HEARTH_ERR_* string from the
// agent's catalog, docs/errors.md), never on the message or on `instanceof`: two copies of the SDK
// can be loaded at once. `sent` is the fact failover needs: whether the request may have run.
export const AGENT_UNAVAILABLE = 'HEARTH_ERR_AGENT_UNAVAILABLE';

export interface HearthClientErrorOptions {
  /** Detail entries (`detail.<name>` metadata of a wire Response, gRPC trailers). */
  readonly details?: Record<string, string>;
  /** True when the request reached the agent (it may have run); false when it never left. */
  readonly sent?: boolean;
  readonly cause?: unknown;
}

export class HearthClientError extends Error {
  readonly code: string;
  readonly details: Record<string, string>;
  readonly sent: boolean;

  constructor(code: string, message: string, options: HearthClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HearthClientError';
    this.code = code;
    this.details = options.details ?? {};
    this.sent = options.sent ?? true;
  }
}

/** Duck-typed check (works across two loaded copies of the SDK). */
export function isHearthClientError(err: unknown): err is HearthClientError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'HearthClientError' &&
    typeof (err as { code?: unknown }).code === 'string' &&
    typeof (err as { sent?: unknown }).sent === 'boolean'
  );
}

/** The agent could not be reached (sent false) or the connection died with the request written (sent true). */
export function agentUnavailable(message: string, sent: boolean, cause?: unknown): HearthClientError {
  return new HearthClientError(AGENT_UNAVAILABLE, message, { sent, cause });
}
