// The per-call core every transport shares: the request id, trace context and deadline a call
// carries (read with the protocol's rules), the app's quota, the metrics of the call, its logger
// and its cancellation, and how its outcome is recorded. A transport only reads those fields from
// its own headers (gRPC metadata, HTTP headers, the wire header) and writes the outcome in its
// own terms (a status with trailers, an HTTP error body, a Response header).
//
// Nothing is built before it is needed: the AbortController and the child logger are made on
// first use (a GetState reads neither; the invoke path listens through onAbort, the Cancellation,
// and makes no AbortController either), and outcome lines go through the transport's logger with
// `requestId` as a field, skipped outright below their level — at a few thousand calls a second
// these were several percent of a worker's CPU.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { MAX_TIMER_MS, validRequestId, validTraceparent } from '@hearth/protocol';
import type { CallContext, Cancellation } from '../building-blocks/runtime-api.js';
import type { AppConfig } from '../config/load-config.js';
import { HearthError, toHearthError } from '../errors/hearth-error.js';
import type { AgentMetrics, Transport } from '../observability/metrics.js';
import type { QuotaGate } from './transport-deps.js';

export interface CallCoreDeps {
  readonly metrics: AgentMetrics;
  /** The transport's logger: outcome lines, and the parent of the call's own logger. */
  readonly logger: Logger;
  /** Absent: no quotas (in-process test harnesses). */
  readonly quotas?: QuotaGate | undefined;
}

/** What the caller sent, as the transport found it in its headers. */
export interface CallFields {
  /** Kept when sane (printable, ≤ 128 characters), else replaced by a UUID. */
  readonly requestId?: unknown;
  /** Kept (lowercased) when well formed, else dropped. */
  readonly traceparent?: unknown;
  /** Absolute (Date.now() ms); undefined = no budget. See deadlineFrom(). */
  readonly deadline?: number | undefined;
}

/** A remaining budget in ms as an absolute deadline, clamped to what a timer can wait; none when ≤ 0. */
export function deadlineFrom(arrival: number, budgetMs: number | undefined): number | undefined {
  const budget = Math.min(budgetMs ?? 0, MAX_TIMER_MS);
  return budget > 0 ? arrival + budget : undefined;
}

const NO_OP = (): void => undefined;

export class CallCore implements Cancellation {
  readonly transport: Transport;
  readonly requestId: string;
  readonly traceparent: string | undefined;
  #deadline: number | undefined;
  readonly #deps: CallCoreDeps;
  readonly #makeLogger: (() => Logger) | undefined;
  readonly #started = process.hrtime.bigint();
  readonly #bytesIn: number;
  #api: string;
  #finish: ((code: string, bytesOut?: number) => void) | undefined;
  #release: (() => void) | undefined;
  /** What the call holds until it ends (a stream's place in its app's budget). */
  #held: (() => void)[] | undefined;
  #bytesOut = 0;
  #done = false;
  #abort: AbortController | undefined;
  /** Why the call was aborted, kept for a signal first asked for afterwards. */
  #abortReason: HearthError | undefined;
  /** Cancellation listeners (onAbort), called once at abort. */
  #abortListeners: ((reason: Error) => void)[] | undefined;
  #logger: Logger | undefined;
  /** Who the call is for, on its outcome line (`{ app }`, or `{ caller, forwarded }`). */
  #who: Readonly<Record<string, string>> = {};

  /** `makeLogger` supplies the call's own logger when the transport already has one (fastify's request.log). */
  constructor(deps: CallCoreDeps, transport: Transport, api: string, fields: CallFields, bytesIn = 0, makeLogger?: () => Logger) {
    this.#deps = deps;
    this.#makeLogger = makeLogger;
    this.transport = transport;
    this.#api = api;
    this.#bytesIn = bytesIn;
    this.requestId = validRequestId(fields.requestId) ?? randomUUID();
    this.traceparent = validTraceparent(fields.traceparent);
    this.#deadline = fields.deadline;
  }

  /** Absolute (Date.now() ms); undefined = no budget. */
  get deadline(): number | undefined {
    return this.#deadline;
  }

  /** For a transport that reads the budget only once the caller is authenticated (HTTP). */
  setDeadline(deadline: number | undefined): void {
    this.#deadline = deadline;
  }

  get api(): string {
    return this.#api;
  }

  get done(): boolean {
    return this.#done;
  }

  /** The call's own logger, bound to the request id and the app (made on first use). */
  get logger(): Logger {
    return (this.#logger ??= this.#makeLogger?.() ?? this.#deps.logger.child({ ...this.#who, requestId: this.requestId }));
  }

  /** Aborted when the call fails, is cancelled or its caller goes away (made on first use). */
  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      this.#abort = new AbortController();
      if (this.#abortReason !== undefined) this.#abort.abort(this.#abortReason);
    }
    return this.#abort.signal;
  }

  get aborted(): boolean {
    return this.#abortReason !== undefined;
  }

  /** The call as a CallOrigin's Cancellation (a forwarded call passes the core itself as its origin). */
  get cancellation(): Cancellation {
    return this;
  }

  onAbort(listener: (reason: Error) => void): () => void {
    const reason = this.#abortReason;
    if (reason !== undefined) {
      listener(reason);
      return NO_OP;
    }
    const listeners = (this.#abortListeners ??= []);
    listeners.push(listener);
    return () => {
      const i = listeners.indexOf(listener);
      if (i >= 0) listeners.splice(i, 1);
    };
  }

  /** Names whom the call is for on its log lines (set before the logger is first used). */
  setWho(who: Readonly<Record<string, string>>): void {
    this.#who = who;
  }

  /** Starts the call's metrics under `appLabel` (the calling app); once. `api` renames the call first. */
  begin(appLabel: string, api?: string): void {
    if (this.#finish) return;
    if (api !== undefined) this.#api = api;
    this.#finish = this.#deps.metrics.begin(appLabel, this.#api, this.transport, this.#bytesIn);
  }

  /** Admits the call under `app`'s quota (throws HEARTH_ERR_RESOURCE_EXHAUSTED); held until the call ends. Once. */
  admit(app: AppConfig, bytesIn = this.#bytesIn): void {
    if (this.#done || this.#release !== undefined) return;
    this.#release = this.#deps.quotas?.admit(app, bytesIn);
  }

  /** Runs `release` when the call ends (at once if it has): a budget the call holds while open. */
  hold(release: () => void): void {
    if (this.#done) release();
    else (this.#held ??= []).push(release);
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

  /** The CallContext of a call made as `app`; logger and signal stay lazy behind getters. */
  ctx(app: AppConfig): CallContext {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getters below read the core
    const core = this;
    return {
      app,
      requestId: this.requestId,
      transport: this.transport,
      get logger(): Logger {
        return core.logger;
      },
      deadline: this.deadline,
      traceparent: this.traceparent,
      get signal(): AbortSignal {
        return core.signal;
      },
      cancellation: core,
    };
  }

  /** Aborts the call's work with `reason` (the caller cancelled or went away), without ending it. */
  abort(reason: HearthError): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason;
    this.#abort?.abort(reason);
    const listeners = this.#abortListeners;
    this.#abortListeners = undefined;
    if (listeners === undefined) return;
    // A copy: a listener may unsubscribe another. One that throws must not keep the rest from hearing.
    for (const listener of [...listeners]) {
      try {
        listener(reason);
      } catch (err) {
        this.#deps.logger.error({ err, requestId: this.requestId }, 'a cancellation listener failed');
      }
    }
  }

  /**
   * Ends the call's bookkeeping with result `code`: releases its quota and records its metrics.
   * False (and nothing recorded) when it had ended already. `bytesOut` adds to what was counted.
   */
  end(code: string, bytesOut = 0): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.#release?.();
    if (this.#held !== undefined) for (const release of this.#held.splice(0)) release();
    this.#finish?.(code, this.#bytesOut + bytesOut);
    return true;
  }

  /** A successful call: ended and, at debug level, logged. */
  ok(bytesOut = 0): void {
    if (!this.end('OK', bytesOut)) return;
    this.#line('debug', 'OK', `${this.transport} call`);
  }

  /** A failed call: aborted, ended and logged (our own faults as errors). Returns the coded error. */
  fail(err: unknown): HearthError {
    const e = toHearthError(err);
    if (!this.end(e.code)) return e;
    this.abort(e);
    // Only our own faults are errors; a caller's bad input is routine.
    if (e.code === 'HEARTH_ERR_INTERNAL') this.#line('error', e.code, `${this.transport} call failed`, { err });
    else this.#line('info', e.code, `${this.transport} call failed`, { message: e.message });
    return e;
  }

  /** The caller cancelled or went away: the work is aborted, nothing is answered. */
  cancelled(reason = 'the caller cancelled the call'): void {
    if (!this.end('CANCELLED')) return;
    this.abort(new HearthError('HEARTH_ERR_CANCELLED', reason));
    this.#line('debug', 'CANCELLED', `${this.transport} call cancelled`);
  }

  #line(level: 'debug' | 'info' | 'error', code: string, msg: string, extra?: Record<string, unknown>): void {
    const log = this.#deps.logger;
    if (!log.isLevelEnabled(level)) return;
    const durationMs = Number(process.hrtime.bigint() - this.#started) / 1e6;
    log[level]({ requestId: this.requestId, api: this.#api, code, ...this.#who, durationMs, ...extra }, msg);
  }
}
