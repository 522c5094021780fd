// Per-call plumbing of the wire server, the twin of grpc/grpc-call.ts: request id, deadline,
// trace context and cancellation from the frame header, the app's quota, the CallContext, the
// coded error Response header, one log line and the metrics of each call (transport `wire`).
//
// Nothing per call is built before it is needed: the AbortController and the child loggers are
// made on first use (a GetState reads neither), and our own log lines go through the
// transport's logger with `requestId` as a field, skipped outright below their level. At a few
// thousand calls a second these were several percent of a worker's CPU (docs/performance.md, #5).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type WireHeader } from '@hearth/protocol';
import type { CallContext } from '../../building-blocks/runtime-api.js';
import type { AppConfig } from '../../config/load-config.js';
import { HearthError, toHearthError } from '../../errors/hearth-error.js';
import type { AgentMetrics } from '../../observability/metrics.js';
import type { QuotaGate } from '../transport-deps.js';

/** Bounded and printable, so a client cannot put anything it likes into our logs. */
const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;
/** W3C trace context: version-traceid-parentid-flags, lowercase hex. */
const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The longest budget honoured (2^31-1 ms, about 24.8 days): setTimeout's range. */
export const MAX_DEADLINE_MS = 2 ** 31 - 1;

/** Who sent a Request, as the server's authority established it. */
export type WirePrincipal =
  /** An app (its token checked): the call runs as that app. */
  | { readonly kind: 'app'; readonly app: AppConfig }
  /** A trusted peer (sibling agent, other worker) forwarding an invocation of `callerAppId`. */
  | { readonly kind: 'agent'; readonly callerAppId: string; readonly scope: 'host' | 'worker' };

export interface WireCallDeps {
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly quotas?: QuotaGate | undefined;
}

export class WireCall {
  readonly requestId: string;
  /** Absolute (Date.now() ms): arrival + header.deadlineMs; undefined without a budget. */
  readonly deadline: number | undefined;
  readonly traceparent: string | undefined;
  #abort: AbortController | undefined;
  /** Why the call was aborted, kept for a signal first asked for afterwards. */
  #abortReason: HearthError | undefined;
  #logger: Logger | undefined;
  readonly #deps: WireCallDeps;
  readonly #started = process.hrtime.bigint();
  readonly #bytesIn: number;
  #api: string;
  #finish: ((code: string, bytesOut?: number) => void) | undefined;
  #release: (() => void) | undefined;
  #principal: WirePrincipal | undefined;
  #bytesOut = 0;
  #done = false;

  constructor(deps: WireCallDeps, header: WireHeader, api: string, bytesIn: number, arrival: number) {
    this.#deps = deps;
    this.#api = api;
    this.#bytesIn = bytesIn;
    const given = header.requestId;
    this.requestId = given !== undefined && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    // Clamped to what a timer can wait (setTimeout fires at once beyond it), as the SDK does.
    const budget = Math.min(header.deadlineMs ?? 0, MAX_DEADLINE_MS);
    this.deadline = budget > 0 ? arrival + budget : undefined;
    const tp = header.traceparent?.trim().toLowerCase();
    this.traceparent = tp !== undefined && TRACEPARENT_PATTERN.test(tp) ? tp : undefined;
  }

  /** The transport's logger bound to the request id (made on first use). */
  get logger(): Logger {
    return (this.#logger ??= this.#deps.logger.child({ requestId: this.requestId }));
  }

  /** Aborted when the call fails, is cancelled or its connection closes (made on first use). */
  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      this.#abort = new AbortController();
      if (this.#abortReason !== undefined) this.#abort.abort(this.#abortReason);
    }
    return this.#abort.signal;
  }

  get done(): boolean {
    return this.#done;
  }

  /**
   * Starts the metrics of the call under `appLabel` (the calling app), and for an app admits it
   * against its quota (throws HEARTH_ERR_RESOURCE_EXHAUSTED): held until the call ends.
   */
  begin(appLabel: string, principal: WirePrincipal | undefined, api?: string): void {
    if (this.#finish) return;
    if (api !== undefined) this.#api = api;
    this.#principal = principal;
    this.#finish = this.#deps.metrics.begin(appLabel, this.#api, 'wire', this.#bytesIn);
    if (principal?.kind === 'app') this.#release = this.#deps.quotas?.admit(principal.app, this.#bytesIn);
  }

  /** The CallContext of an app's call. */
  ctx(app: AppConfig): CallContext {
    // Getters, so a method that logs nothing and ignores cancellation allocates neither.
    const { requestId } = this;
    const deps = this.#deps;
    const signal = (): AbortSignal => this.signal;
    let logger: Logger | undefined;
    return {
      app,
      requestId,
      transport: 'wire',
      get logger(): Logger {
        return (logger ??= deps.logger.child({ requestId, app: app.id }));
      },
      deadline: this.deadline,
      traceparent: this.traceparent,
      get signal(): AbortSignal {
        return signal();
      },
    };
  }

  /** Throws HEARTH_ERR_TIMEOUT when the caller's budget is already spent: no work is done. */
  checkDeadline(): void {
    if (this.deadline !== undefined && Date.now() >= this.deadline) {
      throw new HearthError('HEARTH_ERR_TIMEOUT', 'the call arrived with its deadline already spent');
    }
  }

  addBytesOut(bytes: number): void {
    this.#bytesOut += bytes;
  }

  /** Records a successful call and returns the Response header. Idempotent with fail(). */
  ok(bytesOut = 0): WireHeader {
    if (!this.#settle()) return { requestId: this.requestId };
    this.#finish?.('OK', this.#bytesOut + bytesOut);
    const log = this.#deps.logger;
    if (log.isLevelEnabled('debug')) log.debug({ requestId: this.requestId, api: this.#api, code: 'OK', ...this.#who(), durationMs: this.#durationMs() }, 'wire call');
    return { requestId: this.requestId };
  }

  /** Records a failed call and returns the Response header: code, message, `detail.<name>`. */
  fail(err: unknown): WireHeader {
    const e = toHearthError(err);
    const header = errorHeader(e, this.requestId);
    if (!this.#settle()) return header;
    this.#abortWith(e);
    this.#finish?.(e.code, this.#bytesOut);
    const log = this.#deps.logger;
    const line = { requestId: this.requestId, api: this.#api, code: e.code, ...this.#who(), durationMs: this.#durationMs() };
    // Only our own faults are errors; a caller's bad input is routine.
    if (e.code === 'HEARTH_ERR_INTERNAL') log.error({ ...line, err }, 'wire call failed');
    else log.info({ ...line, message: e.message }, 'wire call failed');
    return header;
  }

  /** The client cancelled or went away: the work is aborted, nothing is answered. */
  cancelled(reason = 'the caller cancelled the call'): void {
    if (!this.#settle()) return;
    this.#abortWith(new HearthError('HEARTH_ERR_CANCELLED', reason));
    this.#finish?.('CANCELLED', this.#bytesOut);
    const log = this.#deps.logger;
    if (log.isLevelEnabled('debug')) log.debug({ requestId: this.requestId, api: this.#api, code: 'CANCELLED', ...this.#who(), durationMs: this.#durationMs() }, 'wire call cancelled');
  }

  #abortWith(reason: HearthError): void {
    this.#abortReason = reason;
    this.#abort?.abort(reason);
  }

  #settle(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.#release?.();
    return true;
  }

  #who(): Record<string, string> {
    const p = this.#principal;
    if (p === undefined) return {};
    return p.kind === 'app' ? { app: p.app.id } : { caller: p.callerAppId, forwarded: p.scope };
  }

  #durationMs(): number {
    return Number(process.hrtime.bigint() - this.#started) / 1e6;
  }
}

/** A coded error as a Response (or Goaway) header; details as `detail.<name>` metadata. */
export function errorHeader(e: HearthError, requestId?: string): WireHeader {
  const metadata: Record<string, string> = {};
  // An internal error's details are ours, not the caller's business.
  if (e.details !== undefined && e.code !== 'HEARTH_ERR_INTERNAL') {
    for (const [k, v] of Object.entries(e.details)) metadata[`detail.${k}`] = typeof v === 'string' ? v : JSON.stringify(v) ?? '';
  }
  return { requestId, errorCode: e.code, errorMessage: e.message, metadata };
}
