// Watches the local agent while calls go to a sibling, and says when it is safe to come back.
// Hysteresis: the local agent must answer `pings` pings in a row, not draining, spread over at
// least `afterMs` — an agent that is restarting, crash-looping or half up must not pull calls
// back and forth. The connection that proved healthy is the one handed over (no second connect).
import type { SdkTransport } from '../transport.js';
import { closeQuietly, pingWithin } from './agent-probe.js';

export interface RecoveryOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Healthy pings in a row required. */
  readonly pings: number;
  /** And for at least this long since the first of them. */
  readonly afterMs: number;
}

export class RecoveryWatch {
  readonly #connect: () => SdkTransport;
  readonly #options: RecoveryOptions;
  readonly #onRecovered: (transport: SdkTransport, rttMs: number, healthySince: number) => void;
  #transport: SdkTransport | undefined;
  #streak = 0;
  #healthySince = 0;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(connect: () => SdkTransport, options: RecoveryOptions, onRecovered: (transport: SdkTransport, rttMs: number, healthySince: number) => void) {
    this.#connect = connect;
    this.#options = options;
    this.#onRecovered = onRecovered;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Stops watching and closes the probe connection (unless it was handed over). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#transport) closeQuietly(this.#transport);
    this.#transport = undefined;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#check(), delayMs);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    if (this.#stopped) return;
    let transport = this.#transport;
    try {
      transport ??= this.#transport = this.#connect();
      const pong = await pingWithin(transport, this.#options.timeoutMs);
      if (this.#stopped) return;
      if (pong.draining) throw new Error('draining');
      if (this.#streak === 0) this.#healthySince = Date.now();
      this.#streak += 1;
      if (this.#streak >= this.#options.pings && Date.now() - this.#healthySince >= this.#options.afterMs) {
        this.#transport = undefined;
        this.stop();
        this.#onRecovered(transport, pong.rttMs, this.#healthySince);
        return;
      }
    } catch {
      if (this.#stopped) return;
      // Not healthy (refused, no answer, draining): start counting again on a fresh connection.
      this.#streak = 0;
      if (transport) closeQuietly(transport);
      this.#transport = undefined;
    }
    this.#schedule(this.#options.intervalMs);
  }
}
