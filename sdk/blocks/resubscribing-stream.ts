// A long-lived stream (a subscription, a configuration watch) that outlives agent restarts: when
// the agent ends it with a retryable code — it drained (SUBSCRIPTION_CLOSED, DRAINING), it died
// (AGENT_UNAVAILABLE), failover moved calls elsewhere — it is opened again with backoff, and the
// app's `for await` never notices. Any other error (a wrong token, a topic not allowed) ends the
// iteration by throwing it.
import { AsyncQueue, isHearthClientError, type ProtocolLogger as SdkLogger } from '@hearth/protocol';
import type { SdkStream } from '../transport.js';

const RETRYABLE = new Set([
  'HEARTH_ERR_SUBSCRIPTION_CLOSED',
  'HEARTH_ERR_DRAINING',
  'HEARTH_ERR_AGENT_UNAVAILABLE',
  'HEARTH_ERR_CALL_INTERRUPTED',
  'HEARTH_ERR_BACKEND_UNAVAILABLE',
  'HEARTH_ERR_RESOURCE_EXHAUSTED',
]);
const BACKOFF_FIRST_MS = 50;
const BACKOFF_MAX_MS = 5_000;

/** May a stream that ended with `err` simply be opened again? */
export function isRetryableStreamEnd(err: unknown): boolean {
  return isHearthClientError(err) && RETRYABLE.has(err.code);
}

/** Exponential backoff with jitter: 50 ms, 100 ms, … up to 5 s. */
export function backoffMs(failures: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, failures - 1));
  return base / 2 + Math.random() * (base / 2);
}

export interface ResubscribeSpec<T> {
  open(): SdkStream;
  /** One response message → an item for the app, or undefined to skip it (e.g. `ready`). */
  map(message: object, stream: SdkStream): T | undefined;
  readonly logger: SdkLogger;
  /** Aborting ends the stream, like close(). */
  readonly signal: AbortSignal;
}

export class ResubscribingStream<T> implements AsyncIterable<T> {
  readonly #spec: ResubscribeSpec<T>;
  readonly #queue = new AsyncQueue<T>();
  #current: SdkStream | undefined;
  #closed = false;
  #wake: (() => void) | undefined;
  /** How many times the stream was opened again after an end. */
  reopened = 0;

  constructor(spec: ResubscribeSpec<T>) {
    this.#spec = spec;
    if (spec.signal.aborted) this.close();
    else spec.signal.addEventListener('abort', () => this.close(), { once: true });
    if (!this.#closed) void this.#run();
  }

  /** Ends the stream (half-close and cancel): iteration finishes after what is queued. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#current?.cancel();
    this.#wake?.();
    this.#queue.finish();
  }

  get closed(): boolean {
    return this.#closed;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.#queue[Symbol.asyncIterator]();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      const stream = this.#spec.open();
      this.#current = stream;
      try {
        for await (const message of stream) {
          failures = 0;
          const item = this.#spec.map(message, stream);
          if (item !== undefined) this.#queue.push(item);
        }
        if (this.#closed) break;
        this.#spec.logger.info({}, 'the agent ended the stream; opening it again');
      } catch (err) {
        if (this.#closed) break;
        if (!isRetryableStreamEnd(err)) {
          this.#closed = true;
          this.#queue.fail(err);
          return;
        }
        this.#spec.logger.info({ code: (err as { code: string }).code, failures }, 'stream ended; opening it again');
      }
      failures += 1;
      this.reopened += 1;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs(failures));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    this.#queue.finish();
  }
}
