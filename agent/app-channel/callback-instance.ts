// One open callback stream of an app: the agent pushes invocations down it and matches the app's
// results by id. Bounded by the instance's concurrency; every pending invocation ends exactly
// once — answered, timed out at its deadline, cancelled, or failed when the stream closes.
// Draining (the agent generation is leaving) is a state between open and closed: no new
// invocation is taken, the pending ones may still be answered, and whenSettled() tells the
// transport when it may end the stream without failing anyone.
import type { Logger } from 'pino';
import { MAX_TIMER_MS } from '@hearth/protocol';
import type { CallbackOutcome, CallbackSink, ForwardedCall, InvokeResult } from '../building-blocks/runtime-api.js';
import { HearthError, toHearthError } from '../errors/hearth-error.js';

interface Pending {
  readonly resolve: (result: InvokeResult) => void;
  readonly reject: (err: HearthError) => void;
  readonly timer: NodeJS.Timeout;
}

export class CallbackInstance {
  readonly id: string;
  readonly appId: string;
  readonly capacity: number;
  readonly methods: readonly string[];
  readonly #sink: CallbackSink;
  readonly #log: Logger;
  readonly #pending = new Map<string, Pending>();
  #next = 0;
  #closed = false;
  #draining = false;
  /** Called when the last pending invocation settles (set while someone waits for that). */
  #onIdle: (() => void) | undefined;

  readonly #admit: (() => () => void) | undefined;

  constructor(id: string, appId: string, sink: CallbackSink, capacity: number, methods: readonly string[], logger: Logger, admit?: () => () => void) {
    this.#admit = admit;
    this.id = id;
    this.appId = appId;
    this.capacity = capacity;
    this.methods = methods;
    this.#sink = sink;
    this.#log = logger;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Draining or closed: takes no new invocation. */
  get draining(): boolean {
    return this.#draining || this.#closed;
  }

  /** Open and not draining: may be chosen for a new invocation. */
  get available(): boolean {
    return !this.#closed && !this.#draining;
  }

  get full(): boolean {
    return this.#pending.size >= this.capacity;
  }

  /**
   * Pushes one invocation and waits for its result. Its deadline is absolute (Date.now() ms);
   * the app learns the remaining budget. Rejects with HEARTH_ERR_TIMEOUT at the deadline,
   * HEARTH_ERR_CANCELLED on abort, HEARTH_ERR_APP_UNAVAILABLE when the stream closes first,
   * HEARTH_ERR_APP_ERROR when the app's handler failed.
   */
  invoke(call: ForwardedCall, signal?: AbortSignal): Promise<InvokeResult> {
    const deadline = call.deadline;
    if (this.#closed) return Promise.reject(unavailable(this.appId, 'its callback stream closed'));
    // Chosen just before the drain began (a hedge, a retry): nothing was pushed, so another
    // instance may take it even when the call is not idempotent.
    if (this.#draining) return Promise.reject(unavailable(this.appId, 'its callback stream is draining', true));
    if (signal?.aborted) return Promise.reject(new HearthError('HEARTH_ERR_CANCELLED', 'the call was cancelled'));
    // The app's budget of pending invocations (all its instances in this worker): refused here,
    // nothing was pushed, so another instance or agent may take it.
    let release: (() => void) | undefined;
    try {
      release = this.#admit?.();
    } catch (err) {
      const e = toHearthError(err);
      return Promise.reject(new HearthError(e.code, e.message, { ...e.details, notSent: true }));
    }
    const id = String(++this.#next);
    // Clamped to what setTimeout can wait (beyond 2^31-1 ms it fires at once) and deadline_ms can carry.
    const remaining = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(deadline - Date.now())));
    return new Promise<InvokeResult>((resolve, reject) => {
      const onAbort = (): void => this.#abandon(id, new HearthError('HEARTH_ERR_CANCELLED', 'the call was cancelled'));
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      const timer = setTimeout(
        () => this.#abandon(id, new HearthError('HEARTH_ERR_TIMEOUT', `app "${this.appId}" did not answer within its deadline`)),
        remaining,
      );
      this.#pending.set(id, {
        resolve: (r) => {
          done();
          release?.();
          resolve(r);
        },
        reject: (e) => {
          done();
          release?.();
          reject(e);
        },
        timer,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.#sink.push({
          id,
          method: call.method,
          data: call.data,
          contentType: call.contentType,
          metadata: call.metadata,
          callerAppId: call.caller,
          deadlineMs: remaining,
          traceparent: call.traceparent,
          httpVerb: call.httpVerb,
        });
      } catch (err) {
        this.#settle(id, unavailable(this.appId, `writing to its callback stream failed: ${(err as Error).message}`));
      }
    });
  }

  /** The app answered. Late or unknown ids (already timed out or cancelled) are dropped. */
  complete(id: string, outcome: CallbackOutcome): void {
    if (outcome.ok) {
      const p = this.#take(id);
      if (p === undefined) return this.#late(id);
      p.resolve(outcome.result);
      return;
    }
    const unreached = outcome.unreached;
    if (unreached !== undefined) {
      this.#settle(id, new HearthError(unreached.code, `app "${this.appId}": ${outcome.message.slice(0, 1024)}`, unreached.notSent ? { notSent: true } : undefined));
      return;
    }
    this.#settle(
      id,
      new HearthError('HEARTH_ERR_APP_ERROR', `app "${this.appId}" failed: ${outcome.message.slice(0, 1024)}`, {
        appCode: outcome.code.slice(0, 128),
      }),
    );
  }

  /** Takes no new invocation from now on; those already pushed may still be answered. Idempotent. */
  beginDrain(): void {
    this.#draining = true;
  }

  /** Resolves when nothing is pending any more, or after graceMs, whichever comes first. */
  whenSettled(graceMs: number): Promise<void> {
    if (this.#pending.size === 0 || this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, graceMs));
      const previous = this.#onIdle;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#onIdle = () => {
        previous?.();
        done();
      };
    });
  }

  /** The stream ended: pending invocations fail with HEARTH_ERR_APP_UNAVAILABLE. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#pending.keys()]) this.#settle(id, unavailable(this.appId, 'its callback stream closed with the call in flight'));
    this.#idle();
  }

  /** Settled without the app's answer: the sink may stop working on it. */
  #abandon(id: string, err: HearthError): void {
    if (!this.#pending.has(id)) return this.#late(id);
    this.#settle(id, err);
    try {
      this.#sink.cancel?.(id);
    } catch (e) {
      this.#log.warn({ err: e, instance: this.id }, 'cancelling an invocation at its sink failed');
    }
  }

  #settle(id: string, err: HearthError): void {
    const p = this.#take(id);
    if (p === undefined) return this.#late(id);
    p.reject(err);
  }

  #take(id: string): Pending | undefined {
    const p = this.#pending.get(id);
    if (p === undefined) return undefined;
    this.#pending.delete(id);
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (this.#pending.size === 0) this.#idle();
    return p;
  }

  #idle(): void {
    const onIdle = this.#onIdle;
    this.#onIdle = undefined;
    onIdle?.();
  }

  #late(id: string): void {
    this.#log.debug({ instance: this.id, invocation: id }, 'callback result for an invocation no longer pending');
  }
}

function unavailable(appId: string, why: string, notSent = false): HearthError {
  return new HearthError('HEARTH_ERR_APP_UNAVAILABLE', `app "${appId}" is unavailable: ${why}`, notSent ? { notSent: true } : undefined);
}
