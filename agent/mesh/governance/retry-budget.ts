// A budget for extra load — retries and hedges — shaped like Finagle's RetryBudget: every request
// deposits percent/100 of a token, every retry (or hedge) withdraws a whole one, and deposits
// expire after a window (10 s), so extra load stays under `percent` of recent traffic however
// badly the target fails. A floor of minPerSecond tokens (over the same window) lets a target
// with little traffic still retry its rare failures.
//
// Counted in 1-second buckets over the window: cheap, and precise enough for a budget.

export interface BudgetOptions {
  /** Deposits expire after this long (default 10 s). */
  windowMs?: number;
}

const BUCKETS = 10;

export class Budget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #bucketMs: number;
  /** Per bucket: the bucket's epoch (time / bucketMs), requests deposited, tokens withdrawn. */
  readonly #epoch = new Float64Array(BUCKETS).fill(-1);
  readonly #requests = new Float64Array(BUCKETS);
  readonly #withdrawn = new Float64Array(BUCKETS);

  constructor(
    percent: number,
    minPerSecond = 10,
    private readonly now: () => number = Date.now,
    options: BudgetOptions = {},
  ) {
    const windowMs = Math.max(BUCKETS, options.windowMs ?? 10_000);
    this.#ratio = Math.max(0, percent) / 100;
    this.#reserve = Math.max(0, minPerSecond) * (windowMs / 1_000);
    this.#bucketMs = windowMs / BUCKETS;
  }

  /** A request was sent (once per call, not per attempt). */
  deposit(): void {
    const i = this.#bucket();
    this.#requests[i] = (this.#requests[i] ?? 0) + 1;
  }

  /** Takes one token if the budget holds one; false means: do not retry (or hedge). */
  tryWithdraw(): boolean {
    if (this.balance() < 1) return false;
    const i = this.#bucket();
    this.#withdrawn[i] = (this.#withdrawn[i] ?? 0) + 1;
    return true;
  }

  /** Tokens available now (may be fractional). */
  balance(): number {
    const e = Math.floor(this.now() / this.#bucketMs);
    let requests = 0;
    let withdrawn = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const age = e - (this.#epoch[i] ?? -1);
      if (age >= 0 && age < BUCKETS) {
        requests += this.#requests[i] ?? 0;
        withdrawn += this.#withdrawn[i] ?? 0;
      }
    }
    return requests * this.#ratio + this.#reserve - withdrawn;
  }

  /** Index of the current bucket, cleared if it last held an older epoch. */
  #bucket(): number {
    const e = Math.floor(this.now() / this.#bucketMs);
    const i = e % BUCKETS;
    if (this.#epoch[i] !== e) {
      this.#epoch[i] = e;
      this.#requests[i] = 0;
      this.#withdrawn[i] = 0;
    }
    return i;
  }
}
