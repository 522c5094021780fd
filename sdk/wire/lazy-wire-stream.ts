// The SdkStream a WireTransport returns at once, while its connection may still be opening:
// send/end/cancel issued before the Request is written are queued and replayed in order, response
// bodies are decoded into proto-loader objects. A stream the agent refused by Goaway before any
// message went either way is reopened on a fresh connection (the same rule as unary calls).
import { AsyncQueue, deserialize, type MethodCodec, notAcceptedBeforeGoaway, type WireConnection, type WireStreamCall } from '@hearth/protocol';
import type { SdkStream } from '../transport.js';

export type StreamOpener = (retry: number) => Promise<{ call: WireStreamCall; connection: WireConnection }>;

export class LazyWireStream implements SdkStream {
  readonly done: Promise<void>;
  readonly #codec: MethodCodec;
  readonly #queue = new AsyncQueue<object>();
  #resolve!: () => void;
  #reject!: (err: unknown) => void;
  #call: WireStreamCall | undefined;
  #pending: Array<(call: WireStreamCall) => void> = [];
  #cancelled = false;
  #exchanged = false;

  constructor(codec: MethodCodec, open: StreamOpener, maxRetries: number) {
    this.#codec = codec;
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => undefined);
    void this.#run(open, maxRetries);
  }

  send(message: object): void {
    const body = this.#codec.serializeRequest(message);
    this.#exchanged = true;
    this.#do((call) => call.send(body));
  }

  end(): void {
    this.#exchanged = true; // a reopened stream would lose it: never reopen after end()
    this.#do((call) => call.end());
  }

  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    if (this.#call) this.#call.cancel();
    else this.#finish(undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<object> {
    return this.#queue[Symbol.asyncIterator]();
  }

  #do(op: (call: WireStreamCall) => void): void {
    if (this.#call) op(this.#call);
    else this.#pending.push(op);
  }

  async #run(open: StreamOpener, maxRetries: number): Promise<void> {
    for (let retry = 0; ; retry += 1) {
      let opened: Awaited<ReturnType<StreamOpener>>;
      try {
        opened = await open(retry);
      } catch (err) {
        this.#finish(err);
        return;
      }
      const { call, connection } = opened;
      if (this.#cancelled) {
        call.cancel();
        this.#finish(undefined);
        return;
      }
      this.#call = call;
      for (const op of this.#pending.splice(0)) op(call);
      try {
        for await (const body of call) {
          this.#exchanged = true;
          this.#queue.push(deserialize(this.#codec, body));
        }
        this.#finish(undefined);
        return;
      } catch (err) {
        if (retry < maxRetries && !this.#exchanged && !this.#cancelled && notAcceptedBeforeGoaway(err, connection)) {
          this.#call = undefined;
          continue;
        }
        call.cancel();
        this.#finish(err);
        return;
      }
    }
  }

  #finish(err: unknown): void {
    if (err === undefined) {
      this.#queue.finish();
      this.#resolve();
    } else {
      this.#queue.fail(err);
      this.#reject(err);
    }
  }
}
