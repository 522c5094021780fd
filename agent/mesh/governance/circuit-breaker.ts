// The circuit breaker of one target app: when most recent calls fail, stop sending for a while so
// the target can recover and callers fail fast (HEARTH_ERR_CIRCUIT_OPEN) instead of queueing
// behind timeouts.
//
// closed --(≥ minRequests calls in the window and failures/calls ≥ failureRatio)--> open
// open --(openMs later)--> half-open: exactly one probe call is let through
// half-open --(probe succeeds)--> closed (fresh window) | --(probe fails)--> open again
//
// allow() hands out a permit and onResult() takes it back, so the probe is known by its permit:
// a late result of a call admitted before the breaker opened never decides a half-open breaker.
import type { BreakerPolicy } from '../../config/config-schema.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerPermit {
  readonly probe: boolean;
}

/** What a result changed, for events and logs. */
export type BreakerTransition = 'opened' | 'closed' | undefined;

const BUCKETS = 10;
const CALL: BreakerPermit = Object.freeze({ probe: false });

export class CircuitBreaker {
  readonly #policy: Readonly<BreakerPolicy>;
  readonly #now: () => number;
  readonly #bucketMs: number;
  readonly #epoch = new Float64Array(BUCKETS).fill(-1);
  readonly #calls = new Float64Array(BUCKETS);
  readonly #failures = new Float64Array(BUCKETS);
  #state: BreakerState = 'closed';
  #openedAt = 0;
  #probeOut = false;

  constructor(policy: Readonly<BreakerPolicy>, now: () => number = Date.now) {
    this.#policy = policy;
    this.#now = now;
    this.#bucketMs = Math.max(1, policy.windowMs / BUCKETS);
  }

  state(): BreakerState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.#policy.openMs) this.#state = 'half-open';
    return this.#state;
  }

  /** A permit to send one call, or undefined: the breaker is open (or its probe is out). */
  allow(): BreakerPermit | undefined {
    switch (this.state()) {
      case 'closed':
        return CALL;
      case 'open':
        return undefined;
      case 'half-open':
        if (this.#probeOut) return undefined;
        this.#probeOut = true;
        return { probe: true };
    }
  }

  /** The call's outcome; `undefined` = no verdict (cancelled by the caller, never sent). */
  onResult(permit: BreakerPermit, ok: boolean | undefined): BreakerTransition {
    if (permit.probe) {
      this.#probeOut = false;
      if (ok === undefined || this.#state !== 'half-open') return undefined;
      if (ok) {
        this.#state = 'closed';
        this.#clear();
        return 'closed';
      }
      this.#open();
      return 'opened';
    }
    if (ok === undefined || this.#state !== 'closed') return undefined;
    const i = this.#bucket();
    this.#calls[i] = (this.#calls[i] ?? 0) + 1;
    if (!ok) this.#failures[i] = (this.#failures[i] ?? 0) + 1;
    if (!ok && this.#tripped()) {
      this.#open();
      return 'opened';
    }
    return undefined;
  }

  #tripped(): boolean {
    const e = Math.floor(this.#now() / this.#bucketMs);
    let calls = 0;
    let failures = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const age = e - (this.#epoch[i] ?? -1);
      if (age >= 0 && age < BUCKETS) {
        calls += this.#calls[i] ?? 0;
        failures += this.#failures[i] ?? 0;
      }
    }
    return calls >= this.#policy.minRequests && failures / calls >= this.#policy.failureRatio;
  }

  #open(): void {
    this.#state = 'open';
    this.#openedAt = this.#now();
  }

  #clear(): void {
    this.#epoch.fill(-1);
    this.#calls.fill(0);
    this.#failures.fill(0);
  }

  #bucket(): number {
    const e = Math.floor(this.#now() / this.#bucketMs);
    const i = e % BUCKETS;
    if (this.#epoch[i] !== e) {
      this.#epoch[i] = e;
      this.#calls[i] = 0;
      this.#failures[i] = 0;
    }
    return i;
  }
}
