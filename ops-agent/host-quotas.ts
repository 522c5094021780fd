// The host's side of per-app quotas: each app's request and byte buckets and its in-flight slots,
// held once for all workers of every generation, leased out in chunks (agent/apps/app-quotas.ts
// is the worker's side). A grant never exceeds what the bucket holds or the slots left, so the
// host as a whole admits an app's configured rate and concurrency, whatever the number of
// workers; slots a worker held return when it exits. Rates refill by time; a reload changes the
// limits and keeps what the buckets hold.
import type { AppConfig } from '../agent/config/load-config.js';
import type { QuotaAmounts } from '../upgrade/handoff-protocol.js';

export interface LeaseAsk extends QuotaAmounts {
  readonly app: string;
  readonly returnSlots: number;
}

export type LeaseGrant = QuotaAmounts;

interface Bucket {
  tokens: number;
  at: number;
}

interface HostApp {
  quota: AppConfig['quota'];
  requests: Bucket;
  bytes: Bucket;
  /** Slots granted, by worker pid. */
  readonly slots: Map<number, number>;
}

const NONE: LeaseGrant = { requests: 0, bytes: 0, slots: 0 };

export class HostQuotas {
  readonly #apps = new Map<string, HostApp>();
  readonly #now: () => number;

  constructor(apps: readonly AppConfig[], now: () => number = () => performance.now()) {
    this.#now = now;
    this.configure(apps);
  }

  /** The apps' current limits (a reload): new apps start with full buckets, removed ones are dropped. */
  configure(apps: readonly AppConfig[]): void {
    this.add(apps);
    const keep = new Set(apps.map((a) => a.id));
    for (const id of [...this.#apps.keys()]) if (!keep.has(id)) this.#apps.delete(id);
  }

  /**
   * Apps a new generation serves, before it starts (it leases as it starts): new ones get full
   * buckets, known ones their new limits; none is dropped yet (the old generation still serves).
   */
  add(apps: readonly AppConfig[]): void {
    const now = this.#now();
    for (const app of apps) {
      const existing = this.#apps.get(app.id);
      if (existing !== undefined) existing.quota = app.quota;
      else {
        const q = app.quota;
        this.#apps.set(app.id, {
          quota: q,
          requests: { tokens: q.requestsPerSecond * q.burstSeconds, at: now },
          bytes: { tokens: q.bytesPerSecond * q.burstSeconds, at: now },
          slots: new Map(),
        });
      }
    }
  }

  /** Grants what the host can of `ask` to worker `pid` (after taking back what it returns). */
  lease(pid: number, ask: LeaseAsk): LeaseGrant {
    const app = this.#apps.get(ask.app);
    if (app === undefined) return NONE;
    const { requestsPerSecond, bytesPerSecond, maxInFlight, burstSeconds } = app.quota;
    const now = this.#now();
    const held = app.slots.get(pid) ?? 0;
    const kept = Math.max(0, held - ask.returnSlots);
    let requests = 0;
    if (ask.requests > 0 && requestsPerSecond > 0) {
      const tokens = refill(app.requests, requestsPerSecond, requestsPerSecond * burstSeconds, now);
      requests = Math.max(0, Math.min(ask.requests, Math.floor(tokens)));
      app.requests.tokens -= requests;
    }
    let bytes = 0;
    if (ask.bytes > 0 && bytesPerSecond > 0) {
      const tokens = refill(app.bytes, bytesPerSecond, bytesPerSecond * burstSeconds, now);
      // A worker in debt for one large message asks for more than a chunk: grant what is there.
      bytes = Math.max(0, Math.min(ask.bytes, Math.floor(tokens)));
      app.bytes.tokens -= bytes;
    }
    let slots = 0;
    if (ask.slots > 0 && maxInFlight > 0) {
      let used = 0;
      for (const [p, n] of app.slots) used += p === pid ? kept : n;
      slots = Math.max(0, Math.min(ask.slots, maxInFlight - used));
    }
    if (kept + slots > 0) app.slots.set(pid, kept + slots);
    else app.slots.delete(pid);
    return { requests, bytes, slots };
  }

  /** A worker exited: the slots it held are free again. */
  forget(pid: number): void {
    for (const app of this.#apps.values()) app.slots.delete(pid);
  }

  /** Slots granted for `appId` over all workers (status, tests). */
  slotsHeld(appId: string): number {
    let n = 0;
    for (const held of this.#apps.get(appId)?.slots.values() ?? []) n += held;
    return n;
  }
}

function refill(b: Bucket, rate: number, depth: number, now: number): number {
  b.tokens = Math.min(Math.max(1, depth), b.tokens + (Math.max(0, now - b.at) / 1000) * rate);
  b.at = now;
  return b.tokens;
}
