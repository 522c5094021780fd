// Outlier ejection for the endpoints of one target (Envoy's "consecutive errors" detector): an
// endpoint failing `consecutiveFailures` calls in a row leaves the rotation for a while instead
// of taking its share of every caller's traffic down with it.
//
// - Ejection time is ejectionMs, doubled for each repeated ejection, capped at 10× (as
//   OutlierPolicy documents); the count resets once the endpoint has stayed healthy for 10×.
// - Never more than maxEjectedPercent of the endpoints are out, and at least one always stays
//   available: a detector must not turn "the target is slow" into "the target is gone".
// - When the ejection time is up the endpoint is half-open: exactly one probe call is let through.
//   Success re-admits it; failure ejects it again, for longer.
//
// onSend() says whether a send is that probe, and the caller hands the flag back with the
// result, so late results of calls sent before the ejection never re-admit an endpoint.
import type { OutlierPolicy } from '../../config/config-schema.js';

export type OutlierTransition = 'ejected' | 'readmitted' | undefined;

const MAX_MULTIPLIER = 10;

interface Entry {
  failures: number;
  ejections: number;
  ejected: boolean;
  ejectedUntil: number;
  probeOut: boolean;
  readmittedAt: number;
}

export class OutlierDetector {
  readonly #policy: Readonly<OutlierPolicy>;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  /** The endpoint ids of the last available() call: the population the cap applies to. */
  #population: ReadonlySet<string> = new Set();

  constructor(policy: Readonly<OutlierPolicy>, now: () => number = Date.now) {
    this.#policy = policy;
    this.#now = now;
  }

  /** The endpoints calls may go to now: not ejected, or half-open with no probe out. */
  available<T extends { readonly id: string }>(endpoints: readonly T[]): T[] {
    this.#population = new Set(endpoints.map((e) => e.id));
    const now = this.#now();
    const out = endpoints.filter((e) => {
      const entry = this.#entries.get(e.id);
      return !entry?.ejected || (now >= entry.ejectedUntil && !entry.probeOut);
    });
    if (out.length === 0 && endpoints.length > 0) {
      // Only reachable when endpoints vanished under the cap: keep the one back soonest.
      const soonest = [...endpoints].sort((a, b) => this.#until(a.id) - this.#until(b.id))[0];
      if (soonest) out.push(soonest);
    }
    return out;
  }

  isEjected(id: string): boolean {
    return this.#entries.get(id)?.ejected ?? false;
  }

  /** A call is being sent to `id`; true when it is the half-open probe (hand it to onResult). */
  onSend(id: string): boolean {
    const entry = this.#entries.get(id);
    if (!entry?.ejected || entry.probeOut) return false;
    entry.probeOut = true;
    return true;
  }

  onResult(id: string, ok: boolean, probe: boolean): OutlierTransition {
    const entry = this.#entry(id);
    const now = this.#now();
    if (entry.ejected) {
      if (!probe) return undefined;
      entry.probeOut = false;
      if (ok) {
        entry.ejected = false;
        entry.failures = 0;
        entry.readmittedAt = now;
        return 'readmitted';
      }
      this.#eject(entry, now);
      return 'ejected';
    }
    if (ok) {
      entry.failures = 0;
      return undefined;
    }
    entry.failures += 1;
    if (entry.failures < this.#policy.consecutiveFailures || !this.#roomToEject(id)) return undefined;
    if (now - entry.readmittedAt >= this.#policy.ejectionMs * MAX_MULTIPLIER) entry.ejections = 0;
    this.#eject(entry, now);
    return 'ejected';
  }

  /** The call ended without a verdict (abandoned): frees the probe slot if it was the probe. */
  onAbandon(id: string, probe: boolean): void {
    const entry = this.#entries.get(id);
    if (probe && entry) entry.probeOut = false;
  }

  /** The endpoint is gone; its history goes with it. */
  forget(id: string): void {
    this.#entries.delete(id);
  }

  #eject(entry: Entry, now: number): void {
    entry.ejections += 1;
    const multiplier = Math.min(MAX_MULTIPLIER, 2 ** (entry.ejections - 1));
    entry.ejected = true;
    entry.ejectedUntil = now + this.#policy.ejectionMs * multiplier;
    entry.failures = 0;
  }

  #roomToEject(id: string): boolean {
    const ids = this.#population.size > 0 ? new Set([...this.#population, id]) : new Set(this.#entries.keys());
    let ejected = 0;
    for (const other of ids) if (this.#entries.get(other)?.ejected) ejected += 1;
    const cap = Math.min(Math.floor((ids.size * this.#policy.maxEjectedPercent) / 100), ids.size - 1);
    return ejected + 1 <= cap;
  }

  #until(id: string): number {
    const entry = this.#entries.get(id);
    return entry?.ejected ? entry.ejectedUntil : 0;
  }

  #entry(id: string): Entry {
    let entry = this.#entries.get(id);
    if (!entry) {
      entry = { failures: 0, ejections: 0, ejected: false, ejectedUntil: 0, probeOut: false, readmittedAt: -Infinity };
      this.#entries.set(id, entry);
    }
    return entry;
  }
}
