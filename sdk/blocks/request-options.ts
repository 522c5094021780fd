// Options every typed method accepts, and their translation into transport CallOptions. Whether
// a method is idempotent is decided here per method (reads, puts and deletes are; publishing,
// transactions and id allocation are not), because failover replays only idempotent calls.
import type { CallOptions, SdkTransport } from '../transport.js';

export interface RequestOptions {
  /** Time budget of the call in ms; the agent refuses spent budgets and passes the rest on. */
  readonly timeoutMs?: number;
  /** Aborting cancels the call (HEARTH_ERR_CANCELLED). */
  readonly signal?: AbortSignal;
  /** W3C trace context to continue. */
  readonly traceparent?: string;
}

export function callOptions(options: RequestOptions | undefined, idempotent: boolean): CallOptions {
  const out: CallOptions = {};
  if (idempotent) out.idempotent = true;
  if (options?.timeoutMs !== undefined && options.timeoutMs > 0) out.deadlineMs = options.timeoutMs;
  if (options?.signal) out.signal = options.signal;
  if (options?.traceparent) out.traceparent = options.traceparent;
  return out;
}

/** What each block client holds: the transport to call through (local, gRPC or failover). */
export interface BlockContext {
  readonly transport: SdkTransport;
  /** Aborted by client.close(): long-lived streams stop reopening. */
  readonly closed: AbortSignal;
}

/** The client's close signal, joined with the app's own when it gave one. */
export function lifetime(ctx: BlockContext, signal: AbortSignal | undefined): AbortSignal {
  if (!signal) return ctx.closed;
  const joined = new AbortController();
  const abort = (): void => joined.abort();
  if (ctx.closed.aborted || signal.aborted) abort();
  ctx.closed.addEventListener('abort', abort, { once: true });
  signal.addEventListener('abort', abort, { once: true });
  return joined.signal;
}
