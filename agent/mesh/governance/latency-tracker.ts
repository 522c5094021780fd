// A target's recent latency distribution, for the hedging delay ("send a backup once the first
// attempt is slower than p95"). A ring of the last N successful latencies, each dropped after
// maxAgeMs so a target that got faster (or slower) a minute ago is judged on what it does now.
//
// Percentiles are computed by sorting a copy, cached until enough new samples arrive or enough
// time passes: a hot target records thousands of samples per second and asks as often, and the
// hedge delay does not need to be exact to the sample.

export interface LatencyTrackerOptions {
  /** Samples kept (default 1,000). */
  capacity?: number;
  /** Samples older than this are ignored (default 60 s). */
  maxAgeMs?: number;
  /** No percentile below this many samples (default 20). */
  minSamples?: number;
}

const RECOMPUTE_AFTER_SAMPLES = 16;
const RECOMPUTE_AFTER_MS = 1_000;

export class LatencyTracker {
  readonly #values: Float64Array;
  readonly #times: Float64Array;
  readonly #maxAgeMs: number;
  readonly #minSamples: number;
  #next = 0;
  #size = 0;
  #sorted: Float64Array | undefined;
  #sortedAt = 0;
  #addedSinceSort = 0;

  constructor(
    private readonly now: () => number = Date.now,
    options: LatencyTrackerOptions = {},
  ) {
    const capacity = Math.max(1, options.capacity ?? 1_000);
    this.#values = new Float64Array(capacity);
    this.#times = new Float64Array(capacity);
    this.#maxAgeMs = options.maxAgeMs ?? 60_000;
    this.#minSamples = Math.max(1, options.minSamples ?? 20);
  }

  record(latencyMs: number): void {
    this.#values[this.#next] = Math.max(0, latencyMs);
    this.#times[this.#next] = this.now();
    this.#next = (this.#next + 1) % this.#values.length;
    this.#size = Math.min(this.#size + 1, this.#values.length);
    this.#addedSinceSort += 1;
  }

  /** The p-th percentile (0..100, nearest rank) in ms; undefined until minSamples recent samples. */
  percentile(p: number): number | undefined {
    const sorted = this.#current();
    if (sorted.length < this.#minSamples) return undefined;
    const rank = Math.ceil((Math.min(100, Math.max(0, p)) / 100) * sorted.length);
    return sorted[Math.max(0, rank - 1)];
  }

  #current(): Float64Array {
    const t = this.now();
    const sorted = this.#sorted;
    if (sorted && (this.#addedSinceSort === 0 || sorted.length >= this.#minSamples)) {
      if (this.#addedSinceSort < RECOMPUTE_AFTER_SAMPLES && t - this.#sortedAt < RECOMPUTE_AFTER_MS) return sorted;
    }
    const fresh: number[] = [];
    for (let i = 0; i < this.#size; i++) {
      if (t - (this.#times[i] ?? 0) <= this.#maxAgeMs) fresh.push(this.#values[i] ?? 0);
    }
    this.#sorted = Float64Array.from(fresh).sort();
    this.#sortedAt = t;
    this.#addedSinceSort = 0;
    return this.#sorted;
  }
}
