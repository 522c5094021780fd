// The one error type a client of the protocol throws (the SDK's, and the agent's own when it
// forwards a call). Callers match on `code` (a HEARTH_ERR_* string from the agent's catalog,
// docs/errors.md), never on the message. Two copies of this package can be loaded at once (an
// app and a library each bringing one), so the type is branded with a registered symbol and
// `instanceof` checks the brand. `sent` is the fact failover needs: whether the request may have run.
export const AGENT_UNAVAILABLE = 'HEARTH_ERR_AGENT_UNAVAILABLE';

export interface HearthClientErrorOptions {
  /** Detail entries (`detail.<name>` metadata of a wire Response, gRPC trailers). */
  readonly details?: Record<string, string>;
  /** True when the request reached the agent (it may have run); false when it never left. */
  readonly sent?: boolean;
  readonly cause?: unknown;
}

const BRAND = Symbol.for('hearth.protocol.HearthClientError');

export class HearthClientError extends Error {
  /** True of any copy's HearthClientError (see the header); a subclass keeps the ordinary check. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== HearthClientError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

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

// On the prototype, not enumerable: a spread or Object.assign of an error does not copy it.
Object.defineProperty(HearthClientError.prototype, BRAND, { value: true, enumerable: false });

/**
 * True of a HearthClientError from any loaded copy of this package (the brand), and of one shaped
 * like it by a copy from before the brand (name, string code, boolean sent).
 */
export function isHearthClientError(err: unknown): err is HearthClientError {
  if (err instanceof HearthClientError) return true;
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
