// What the balancer knows about one endpoint: a latency average, the calls it has in flight, its
// recent error rate and its current run of failures.
//
// Both averages are time-decayed means (sum and weight each decay by e^(-Δt/τ), τ = 10 s) rather
// than per-sample EWMAs: a burst of samples at the same instant still counts fully, old
// behaviour fades by the clock and not by traffic volume, and the first sample seeds the mean
// exactly.

export const DEFAULT_DECAY_MS = 10_000;

/** A mean whose samples lose weight with age (half-life τ·ln 2). */
class DecayingMean {
  #sum = 0;
  #weight = 0;
  #at = 0;

  constructor(
    private readonly tauMs: number,
    private readonly now: () => number,
  ) {}

  add(value: number): void {
    this.#decay();
    this.#sum += value;
    this.#weight += 1;
  }

  /** undefined before the first sample (or once every sample has all but faded). */
  value(): number | undefined {
    this.#decay();
    return this.#weight > 1e-6 ? this.#sum / this.#weight : undefined;
  }

  #decay(): void {
    const t = this.now();
    const dt = t - this.#at;
    this.#at = t;
    if (dt <= 0 || this.#weight === 0) return;
    const f = Math.exp(-dt / this.tauMs);
    this.#sum *= f;
    this.#weight *= f;
  }
}

export class EndpointStats {
  #inFlight = 0;
  #consecutiveFailures = 0;
  readonly #latency: DecayingMean;
  readonly #errors: DecayingMean;

  constructor(now: () => number = Date.now, decayMs = DEFAULT_DECAY_MS) {
    this.#latency = new DecayingMean(decayMs, now);
    this.#errors = new DecayingMean(decayMs, now);
  }

  /** Decayed mean latency in ms; undefined until the first completed call. */
  get latencyMs(): number | undefined {
    return this.#latency.value();
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Share of recent calls that failed, 0..1 (0 with no history). */
  get errorRate(): number {
    return this.#errors.value() ?? 0;
  }

  get consecutiveFailures(): number {
    return this.#consecutiveFailures;
  }

  recordStart(): void {
    this.#inFlight += 1;
  }

  recordEnd(latencyMs: number, ok: boolean): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    this.#latency.add(Math.max(0, latencyMs));
    this.#errors.add(ok ? 0 : 1);
    this.#consecutiveFailures = ok ? 0 : this.#consecutiveFailures + 1;
  }

  /**
   * The call was abandoned (a hedge won, the caller gave up) without a verdict. The time it had
   * taken is a lower bound of its latency and still counts, so a slow endpoint whose calls keep
   * losing races gets more expensive; health counters are untouched.
   */
  recordAbandon(elapsedMs: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    this.#latency.add(Math.max(0, elapsedMs));
  }
}
