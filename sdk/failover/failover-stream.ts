// A streaming call (subscribe, serve) through the failover transport. A stream cannot be replayed
// transparently — messages were delivered, acks are tied to the agent — so when its agent fails or
// calls move to another agent, it ends with a retryable error (HEARTH_ERR_AGENT_UNAVAILABLE) and
// the SDK's higher layer opens it again, which lands on the new agent. The one thing done here:
// a stream that could not even be opened (sent false) is opened again once the switch is over.
import { agentUnavailable, AsyncQueue, type HearthClientError, isHearthClientError } from '@hearth/protocol';
import type { SdkStream, SdkTransport } from '../transport.js';

export interface StreamOpener {
  /** Waits for a usable agent and opens the stream there. */
  open(): Promise<{ transport: SdkTransport; inner: SdkStream }>;
  /** The stream ended because its agent failed: let the failover transport react. */
  agentFailed(transport: SdkTransport, err: HearthClientError): void;
  /** May a stream that failed to open (nothing sent) be opened again? */
  mayReopen(attempt: number): boolean;
  settled(stream: FailoverStream): void;
}

type Pending = { readonly kind: 'send'; readonly message: object } | { readonly kind: 'end' };

export class FailoverStream implements SdkStream {
  readonly done: Promise<void>;
  readonly #queue = new AsyncQueue<object>();
  readonly #opener: StreamOpener;
  #inner: SdkStream | undefined;
  #transport: SdkTransport | undefined;
  #pending: Pending[] = [];
  #finished = false;
  #resolveDone!: () => void;
  #rejectDone!: (err: unknown) => void;

  constructor(opener: StreamOpener) {
    this.#opener = opener;
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    // Apps that only iterate must not get an unhandled rejection from `done`.
    this.done.catch(() => undefined);
    void this.#run();
  }

  /** The agent this stream is open on (undefined while opening). */
  get transport(): SdkTransport | undefined {
    return this.#transport;
  }

  send(message: object): void {
    if (this.#finished) return;
    if (this.#inner) this.#inner.send(message);
    else this.#pending.push({ kind: 'send', message });
  }

  end(): void {
    if (this.#finished) return;
    if (this.#inner) this.#inner.end();
    else this.#pending.push({ kind: 'end' });
  }

  cancel(): void {
    if (this.#finished) return;
    this.#inner?.cancel();
    this.#finish(undefined);
  }

  /** Ends the stream with `err` (calls moved to another agent); the app reopens it. */
  interrupt(err: HearthClientError): void {
    if (this.#finished) return;
    this.#inner?.cancel();
    this.#finish(err);
  }

  [Symbol.asyncIterator](): AsyncIterator<object> {
    return this.#queue[Symbol.asyncIterator]();
  }

  async #run(): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      let received = false;
      try {
        const { transport, inner } = await this.#opener.open();
        if (this.#finished) {
          inner.cancel();
          return;
        }
        this.#transport = transport;
        this.#inner = inner;
        for (const p of this.#pending.splice(0)) {
          if (p.kind === 'send') inner.send(p.message);
          else inner.end();
        }
        for await (const message of inner) {
          received = true;
          this.#queue.push(message);
        }
        await inner.done;
        return this.#finish(undefined);
      } catch (err) {
        if (this.#finished) return;
        const failed = toClientError(err);
        if (failed.code === 'HEARTH_ERR_AGENT_UNAVAILABLE' && this.#transport) this.#opener.agentFailed(this.#transport, failed);
        // Nothing reached the agent and nothing came back: open it again where calls go now.
        if (!failed.sent && !received && this.#opener.mayReopen(attempt + 1)) {
          this.#inner = undefined;
          this.#transport = undefined;
          continue;
        }
        return this.#finish(failed);
      }
    }
  }

  #finish(err: HearthClientError | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    if (err) {
      this.#queue.fail(err);
      this.#rejectDone(err);
    } else {
      this.#queue.finish();
      this.#resolveDone();
    }
    this.#opener.settled(this);
  }
}

function toClientError(err: unknown): HearthClientError {
  if (isHearthClientError(err)) return err;
  return agentUnavailable(`the stream failed: ${err instanceof Error ? err.message : String(err)}`, true, err);
}
