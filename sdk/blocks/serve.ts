// serve(handlers): this app answers invocations without opening a port. It holds an
// AppCallback/Connect stream to its agent (register → registered → invocations ↔ results) and
// opens it again, with backoff, whenever the agent dies or failover moves elsewhere —
// invocations in flight on a lost stream are failed by the agent, never silently dropped here.
// An agent generation that drains (upgrade, reload) says `draining` first: the replacement
// stream opens at once (it reaches the next generation) while the old one stays open until the
// agent ends it, so the invocations it delivered are still answered on it. One replacement per
// draining stream: the old stream's end then starts nothing.
import { isHearthClientError, type ProtocolLogger as SdkLogger } from '@hearth/protocol';
import { encodeValue, payload, type Payload, type Value } from '../payload.js';
import type { SdkStream } from '../transport.js';
import type { BlockContext } from './request-options.js';
import { backoffMs, isRetryableStreamEnd } from './resubscribing-stream.js';
import { MAX_TIMER_MS, type CallbackInvocation__Output as InvocationMsg, type CallbackToApp__Output } from '@hearth/protocol';

const CONNECT = 'hearth.runtime.v1.AppCallback/Connect';
const REPLY = Symbol.for('hearth.sdk.reply');

export interface InvocationRequest extends Payload {
  readonly method: string;
  readonly metadata: Record<string, string>;
  /** The verified calling app. */
  readonly callerAppId: string;
  /** Remaining budget in ms when the agent pushed the call; 0 = none. */
  readonly deadlineMs: number;
  readonly traceparent: string;
  /** Aborted when the budget runs out or the stream to the agent is lost. */
  readonly signal: AbortSignal;
}

/** A full answer with content type and metadata; build it with reply(). */
export interface Reply {
  readonly [REPLY]: true;
  readonly data: Value;
  readonly contentType?: string;
  readonly metadata?: Record<string, string>;
}

/** What a handler returns: a Reply, or a bare value (Buffer, string, JSON-able, nothing). */
export type ResultLike = Reply | Value | undefined;

export type Handler = (request: InvocationRequest) => Promise<ResultLike> | ResultLike;

export interface ServeOptions {
  /** Invocations this instance runs at once; 0 = the agent's default. */
  readonly maxConcurrency?: number;
}

export interface ServeHandle {
  /** Resolves when the agent registered this instance the first time; rejects if it refused it. */
  readonly ready: Promise<void>;
  /** Resolves after close(); rejects when the agent refused the instance for good (e.g. a wrong token). */
  readonly closed: Promise<void>;
  /** The agent's id of the current stream ('' between streams). */
  readonly instanceId: string;
  /** Stops taking invocations; waits (bounded) for the running handlers' results to be sent. */
  close(): Promise<void>;
}

export function reply(data: Value, options: { contentType?: string; metadata?: Record<string, string> } = {}): Reply {
  return { [REPLY]: true, data, ...options };
}


const CLOSE_GRACE_MS = 5_000;

export function serve(ctx: BlockContext, logger: SdkLogger, handlers: Record<string, Handler>, options: ServeOptions = {}): ServeHandle {
  return new CallbackServer(ctx, logger.child({ block: 'serve' }), handlers, options);
}

class CallbackServer implements ServeHandle {
  readonly ready: Promise<void>;
  readonly closed: Promise<void>;
  instanceId = '';
  readonly #ctx: BlockContext;
  readonly #logger: SdkLogger;
  readonly #handlers: Record<string, Handler>;
  readonly #register: object;
  readonly #running = new Set<Promise<void>>();
  #stream: SdkStream | undefined;
  /** Streams the agent said drain: still read (and answered) until it ends them. */
  readonly #draining = new Set<SdkStream>();
  #closing = false;
  #wake: (() => void) | undefined;
  #ready!: { resolve: () => void; reject: (err: unknown) => void };

  constructor(ctx: BlockContext, logger: SdkLogger, handlers: Record<string, Handler>, options: ServeOptions) {
    this.#ctx = ctx;
    this.#logger = logger;
    this.#handlers = handlers;
    const methods = Object.keys(handlers).filter((m) => m !== '*');
    this.#register = { register: { methods: Object.keys(handlers).includes('*') ? [] : methods, maxConcurrency: options.maxConcurrency ?? 0 } };
    this.ready = new Promise((resolve, reject) => {
      this.#ready = { resolve, reject };
    });
    this.ready.catch(() => undefined);
    this.closed = this.#run();
    this.closed.catch(() => undefined);
  }

  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#wake?.();
      // Let running handlers answer before the stream goes: their callers are waiting.
      const grace = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref());
      await Promise.race([Promise.allSettled([...this.#running]), grace]);
      for (const stream of [this.#stream, ...this.#draining]) {
        stream?.end();
        stream?.cancel();
      }
      this.#ready.reject(new Error('serve() was closed before the agent registered it'));
    }
    await this.closed.catch(() => undefined);
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#closing) {
      const stream = this.#ctx.transport.stream(CONNECT, this.#register, {});
      this.#stream = stream;
      try {
        const how = await this.#hold(stream, () => {
          failures = 0;
        });
        if (how === 'draining') continue; // the replacement opens now, no backoff
        if (!this.#closing) this.#logger.info({}, 'the agent ended the callback stream; connecting again');
      } catch (err) {
        if (this.#closing) break;
        if (!isRetryableStreamEnd(err)) {
          this.#logger.error({ err }, 'the agent refused this callback instance');
          this.#ready.reject(err);
          throw err;
        }
        this.#logger.info({ code: isHearthClientError(err) ? err.code : undefined }, 'callback stream ended; connecting again');
      } finally {
        this.instanceId = '';
      }
      failures += 1;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs(failures));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /**
   * Reads one stream and answers its invocations. Settles 'draining' as soon as the agent says it
   * drains — reading goes on in the background until the agent ends the stream — else 'ended'
   * when the stream ends cleanly; rejects with the error it ended with.
   */
  #hold(stream: SdkStream, onRegistered: () => void): Promise<'draining' | 'ended'> {
    return new Promise((resolve, reject) => {
      const lost = new AbortController();
      let drained = false;
      const read = async (): Promise<void> => {
        for await (const message of stream) {
          const m = message as CallbackToApp__Output;
          if (m.registered) {
            onRegistered();
            this.instanceId = m.registered.instanceId;
            this.#logger.info({ instanceId: this.instanceId }, 'registered with the agent');
            this.#ready.resolve();
          } else if (m.invocation) {
            this.#dispatch(stream, m.invocation, lost.signal);
          } else if (m.draining && !drained) {
            drained = true;
            this.#draining.add(stream);
            this.#logger.info({ instanceId: this.instanceId, graceMs: m.draining.graceMs }, 'the agent drains this callback stream; connecting a replacement');
            resolve('draining');
          }
        }
      };
      read()
        .then(
          () => resolve('ended'),
          (err: unknown) => {
            if (drained) this.#logger.debug({ code: isHearthClientError(err) ? err.code : undefined }, 'the drained callback stream ended');
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        )
        .finally(() => {
          this.#draining.delete(stream);
          lost.abort(new Error('the callback stream to the agent ended'));
        });
    });
  }

  #dispatch(stream: SdkStream, inv: InvocationMsg, lost: AbortSignal): void {
    const run = this.#answer(stream, inv, lost)
      .catch((err: unknown) => this.#logger.warn({ err, method: inv.method }, 'answering an invocation failed'))
      .finally(() => this.#running.delete(run));
    this.#running.add(run);
  }

  async #answer(stream: SdkStream, inv: InvocationMsg, lost: AbortSignal): Promise<void> {
    const handler = this.#handlers[inv.method] ?? this.#handlers['*'];
    const arrived = performance.now();
    // The request's signal is made when the handler first reads it: most never do, and a
    // controller, a listener and a timer per invocation were a visible share of its cost. A
    // controller of our own, not AbortSignal.any/timeout: those hold their sources weakly, and a
    // timeout signal nobody else references can be collected before it fires.
    let controller: AbortController | undefined;
    let onLost: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    let answered = false;
    const signal = (): AbortSignal => {
      if (controller !== undefined) return controller.signal;
      const c = (controller = new AbortController());
      // First read after the handler settled (work it left running): the answer is sent; the
      // signal listens to nothing and holds no timer, as the eager one did once cleaned up.
      if (answered) return c.signal;
      const deadlinePassed = new Error('the invocation deadline passed');
      // What remains of the deadline, counted from arrival; clamped: setTimeout fires at once
      // beyond 2^31-1 ms (deadline_ms is a uint32).
      const remaining = inv.deadlineMs > 0 ? inv.deadlineMs - (performance.now() - arrived) : Infinity;
      if (lost.aborted) c.abort(lost.reason);
      else if (remaining <= 0) c.abort(deadlinePassed);
      else {
        lost.addEventListener('abort', (onLost = () => c.abort(lost.reason)), { once: true });
        if (remaining !== Infinity) timer = setTimeout(() => c.abort(deadlinePassed), Math.min(remaining, MAX_TIMER_MS));
      }
      return c.signal;
    };
    let result: object;
    try {
      if (!handler) throw Object.assign(new Error(`no handler for method "${inv.method}"`), { code: 'NOT_FOUND' });
      const request = payload<Omit<InvocationRequest, keyof Payload | 'signal'>>(inv.data, inv.contentType, {
        method: inv.method,
        metadata: inv.metadata,
        callerAppId: inv.callerAppId,
        deadlineMs: inv.deadlineMs,
        traceparent: inv.traceparent,
      });
      Object.defineProperty(request, 'signal', {
        get: signal,
        // A handler may still replace it, as it could when it was a plain property.
        set: (value: AbortSignal) => Object.defineProperty(request, 'signal', { value, writable: true, enumerable: true, configurable: true }),
        enumerable: true,
        configurable: true,
      });
      result = toResult(inv.id, await handler(request as InvocationRequest));
    } catch (err) {
      // Handlers may throw anything, null and undefined included.
      const thrown = typeof err === 'object' && err !== null ? (err as { code?: unknown }) : {};
      const code = typeof thrown.code === 'string' ? thrown.code : 'ERROR';
      const message = err instanceof Error ? err.message : String(err);
      this.#logger.debug({ method: inv.method, code }, 'handler failed');
      result = { id: inv.id, error: { code, message } };
    } finally {
      answered = true;
      clearTimeout(timer);
      if (onLost !== undefined) lost.removeEventListener('abort', onLost);
    }
    // The stream may have ended meanwhile (agent gone): the caller's agent already failed the call.
    stream.send({ result });
  }
}


function toResult(id: string, value: ResultLike): object {
  if (isReply(value)) {
    const encoded = encodeValue(value.data, value.contentType);
    return { id, data: encoded.data, contentType: encoded.contentType, metadata: { ...value.metadata } };
  }
  if (value === undefined) return { id, data: Buffer.alloc(0), contentType: '', metadata: {} };
  const encoded = encodeValue(value);
  return { id, data: encoded.data, contentType: encoded.contentType, metadata: {} };
}

function isReply(value: ResultLike): value is Reply {
  return typeof value === 'object' && value !== null && (value as Partial<Reply>)[REPLY] === true;
}
