// The progress of a hand-off as the admin API streams it (one NDJSON line per event) and the CLI
// prints it: a line when a phase begins, byte counts while downloading, a line with its duration
// when it ends, and a final line with the result and every phase's duration.

export interface ProgressEvent {
  readonly phase: string;
  readonly bytes?: number;
  readonly total?: number;
  readonly percent?: number;
  /** Set on the line that ends a phase. */
  readonly ms?: number;
  readonly message?: string;
}

export interface FinalEvent {
  readonly result: 'ok' | 'failed';
  readonly code?: string;
  readonly message?: string;
  readonly kind: string;
  readonly from: string;
  readonly to: string;
  readonly phases: Readonly<Record<string, number>>;
  /** ready → every old worker exited. */
  readonly handoffMs?: number;
}

export type ProgressSink = (event: ProgressEvent) => void;

/**
 * Times consecutive phases. `enter` ends the current phase (emitting its duration) and begins the
 * next; `onEnter` lets the caller persist the phase it is in.
 */
export class PhaseClock {
  readonly #emit: ProgressSink;
  readonly #onEnter: (phase: string) => void;
  readonly #phases: Record<string, number> = {};
  #current: string | undefined;
  #since = 0;
  #lastBytesEmit = 0;
  #lastPercent = -1;

  constructor(emit: ProgressSink, onEnter: (phase: string) => void = () => undefined) {
    this.#emit = emit;
    this.#onEnter = onEnter;
  }

  get current(): string | undefined {
    return this.#current;
  }

  enter(phase: string, message?: string): void {
    if (this.#current === phase) return;
    this.#end();
    this.#current = phase;
    this.#since = performance.now();
    this.#lastPercent = -1;
    this.#onEnter(phase);
    this.#emit({ phase, ...(message !== undefined ? { message } : {}) });
  }

  /** Byte progress within the current phase, thinned to whole percents (or 4 per second without a total). */
  bytes(bytes: number, total?: number): void {
    const phase = this.#current;
    if (phase === undefined) return;
    if (total !== undefined && total > 0) {
      const percent = Math.min(100, Math.floor((bytes / total) * 100));
      if (percent === this.#lastPercent) return;
      this.#lastPercent = percent;
      this.#emit({ phase, bytes, total, percent });
      return;
    }
    const now = performance.now();
    if (now - this.#lastBytesEmit < 250) return;
    this.#lastBytesEmit = now;
    this.#emit({ phase, bytes });
  }

  note(message: string): void {
    if (this.#current !== undefined) this.#emit({ phase: this.#current, message });
  }

  /** Ends the current phase and returns every phase's duration. */
  finish(): Record<string, number> {
    this.#end();
    return { ...this.#phases };
  }

  #end(): void {
    const phase = this.#current;
    if (phase === undefined) return;
    const ms = Math.round(performance.now() - this.#since);
    this.#phases[phase] = (this.#phases[phase] ?? 0) + ms;
    this.#current = undefined;
    this.#emit({ phase, ms });
  }
}
