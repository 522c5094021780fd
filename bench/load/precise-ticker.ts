// Main-thread side of the ticker thread: calls `onTick` at (close to) each scheduled instant.
import { Worker } from 'node:worker_threads';

export interface TickerOptions {
  /** monoMs() of the first tick. */
  startMs: number;
  intervalMs: number;
  ticks: number;
  onTick: () => void;
}

export class PreciseTicker {
  readonly #control = new Int32Array(new SharedArrayBuffer(4));
  readonly #worker: Worker;
  readonly ended: Promise<void>;

  constructor(options: TickerOptions) {
    this.#worker = new Worker(new URL('./ticker-thread.js', import.meta.url), {
      workerData: {
        startMs: options.startMs,
        intervalMs: options.intervalMs,
        ticks: options.ticks,
        control: this.#control.buffer,
      },
    });
    this.#worker.on('message', () => options.onTick());
    this.ended = new Promise((resolve, reject) => {
      this.#worker.once('error', reject);
      this.#worker.once('exit', () => resolve());
    });
  }

  /** Idempotent; the thread wakes at once and exits. */
  async stop(): Promise<void> {
    Atomics.store(this.#control, 0, 1);
    Atomics.notify(this.#control, 0);
    await this.ended.catch(() => undefined);
  }
}
