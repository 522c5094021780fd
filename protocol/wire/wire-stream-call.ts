// One streaming call on a WireConnection, as the caller sees it: messages from the server as an
// async iterator of bodies, send/end/cancel towards it, and `done` for the final status. The
// connection owns the stream id and the frames; this object only queues and settles.
import { AsyncQueue } from '../async-queue.js';
import type { HearthClientError } from '../errors.js';
import type { CallSink, WireReply } from './wire-connection.js';

export interface StreamFrameWriter {
  send(streamId: number, body: Buffer): void;
  end(streamId: number): void;
  cancel(streamId: number): void;
}

export class WireStreamCall implements CallSink, AsyncIterable<Buffer> {
  readonly #writer: StreamFrameWriter;
  readonly #queue = new AsyncQueue<Buffer>();
  readonly done: Promise<void>;
  #resolve!: () => void;
  #reject!: (err: HearthClientError) => void;
  #streamId = 0;
  #settled = false;

  constructor(writer: StreamFrameWriter) {
    this.#writer = writer;
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Callers may only iterate: an error end must not become an unhandled rejection.
    this.done.catch(() => undefined);
  }

  /** 0 until the Request was written (and for a call that failed before it). */
  get streamId(): number {
    return this.#streamId;
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** @internal the connection hands over the stream id it wrote the Request on. */
  attach(streamId: number): void {
    if (!this.#settled) this.#streamId = streamId;
  }

  /** One more request message (bidirectional methods). Ignored once the call is done. */
  send(body: Buffer): void {
    if (!this.#settled && this.#streamId !== 0) this.#writer.send(this.#streamId, body);
  }

  /** Half-close: the server finishes the stream and answers Response. */
  end(): void {
    if (!this.#settled && this.#streamId !== 0) this.#writer.end(this.#streamId);
  }

  /** Abandons the stream: iteration ends and `done` resolves. */
  cancel(): void {
    if (this.#settled) return;
    if (this.#streamId !== 0) this.#writer.cancel(this.#streamId);
    else this.settle(undefined, undefined);
  }

  message(body: Buffer): void {
    this.#queue.push(body);
  }

  settle(err: HearthClientError | undefined, _reply: WireReply | undefined): void {
    if (this.#settled) return;
    this.#settled = true;
    if (err) {
      this.#queue.fail(err);
      this.#reject(err);
    } else {
      this.#queue.finish();
      this.#resolve();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.#queue[Symbol.asyncIterator]();
  }
}
