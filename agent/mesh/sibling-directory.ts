// Which sibling agents can serve an app: the static `siblings.peers` list (a peer with no `apps`
// is asked for any app) and, when `siblings.registry` names a registry component, the live agents
// the registry lists for that app. This agent is never its own sibling.
//
// Registry records are per worker (`<agentId>.w<pid>`), not per agent: each worker announces the
// apps whose callback streams it holds, and two workers writing one record would overwrite each
// other's app lists. Lookups merge records by address, so a sibling is one endpoint however many
// of its workers announce it. Lookups are cached briefly: the registry is not on every call's path.
// The cache is bounded: an app asked about for no while (CACHE_IDLE_MS) is forgotten, and past
// CACHE_MAX entries the least recently asked goes, so invoking ids x1, x2, … grows nothing.
import type { Logger } from 'pino';
import type { ServiceRegistry } from '../components/service-registry.js';
import type { ResolvedSiblingsConfig } from '../config/mesh-config.js';
import type { CallbackRegistry } from '../app-channel/callback-registry.js';

/** A sibling agent's agent-to-agent listener. */
export interface SiblingAddress {
  /** Stable key and label: the static peer's name, or `host:port`. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

const LOOKUP_TTL_MS = 2_000;
/** A cached answer not asked for this long is dropped (its last answer outlives a registry outage until then). */
const CACHE_IDLE_MS = 10 * 60_000;
const CACHE_MAX = 10_000;
/** Coalesces the announcements of a burst of callback streams opening or closing. */
const ANNOUNCE_DELAY_MS = 50;

export interface SiblingDirectoryOptions {
  readonly siblings: ResolvedSiblingsConfig;
  /** Present when siblings.registry names a started registry component. */
  readonly registry?: ServiceRegistry | undefined;
  /** This worker's callback streams: what it announces. */
  readonly callbacks: CallbackRegistry;
  /** Distinguishes this worker's registry record from the other workers'. */
  readonly pid: number;
  readonly logger: Logger;
  /** For tests: cache bounds and clock. */
  readonly cacheIdleMs?: number | undefined;
  readonly cacheMax?: number | undefined;
  readonly clock?: (() => number) | undefined;
}

interface CacheEntry {
  at: number;
  /** Last asked (peek or lookup): what idleness is measured from. */
  used: number;
  addresses: Promise<SiblingAddress[]>;
  settled?: SiblingAddress[];
}

export class SiblingDirectory {
  readonly #o: SiblingDirectoryOptions;
  readonly #log: Logger;
  readonly #selfAddresses: Set<string>;
  /** Map order is recency of use: the first entries are the least recently asked. */
  readonly #cache = new Map<string, CacheEntry>();
  /** Apps a static peer lists by name. */
  readonly #staticApps: ReadonlySet<string>;
  readonly #now: () => number;
  readonly #idleMs: number;
  readonly #max: number;
  #lastSweep: number;
  readonly #recordId: string;
  #unsubscribe: (() => void) | undefined;
  #announceTimer: NodeJS.Timeout | undefined;
  #announcing: Promise<void> = Promise.resolve();
  #announced = false;
  #closed = false;

  constructor(options: SiblingDirectoryOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'sibling-directory' });
    const s = options.siblings;
    this.#recordId = `${s.agentId}.w${options.pid}`;
    this.#selfAddresses = new Set([s.advertise, s.listen].filter((a) => a !== undefined).map((a) => `${a.host}:${a.port}`));
    this.#staticApps = new Set(s.peers.flatMap((p) => p.apps));
    this.#now = options.clock ?? Date.now;
    this.#idleMs = options.cacheIdleMs ?? CACHE_IDLE_MS;
    this.#max = Math.max(1, options.cacheMax ?? CACHE_MAX);
    this.#lastSweep = this.#now();
  }

  /** Whether `appId` is known here: a static peer lists it, or the registry's last answer had it. */
  knows(appId: string): boolean {
    return this.#staticApps.has(appId) || (this.#cache.get(appId)?.settled?.length ?? 0) > 0;
  }

  /** How many apps have a cached registry answer (bounded: see the header). */
  get cachedApps(): number {
    return this.#cache.size;
  }

  /** Announces this worker's apps now and whenever its callback streams change. */
  async start(): Promise<void> {
    if (this.#o.registry === undefined || this.#o.siblings.advertise === undefined) return;
    this.#unsubscribe = this.#o.callbacks.onChange(() => this.#scheduleAnnounce());
    await this.#announce();
  }

  /** Sibling agents that may serve `appId`, static peers first; never this agent. */
  async lookup(appId: string): Promise<SiblingAddress[]> {
    return this.#merge(appId, await this.#fromRegistry(appId));
  }

  /**
   * What is known without waiting: the static peers and the last registry answer (a fresh one is
   * fetched in the background). For calls that have a closer endpoint and must not wait on Redis.
   */
  peek(appId: string): SiblingAddress[] {
    const cached = this.#cache.get(appId)?.settled;
    void this.#fromRegistry(appId);
    return this.#merge(appId, cached ?? []);
  }

  #merge(appId: string, registered: readonly SiblingAddress[]): SiblingAddress[] {
    const out = new Map<string, SiblingAddress>();
    for (const p of this.#o.siblings.peers) {
      if (p.apps.length > 0 && !p.apps.includes(appId)) continue;
      if (this.#selfAddresses.has(`${p.host}:${p.port}`)) continue;
      out.set(`${p.host}:${p.port}`, { name: p.name, host: p.host, port: p.port });
    }
    for (const a of registered) if (!out.has(`${a.host}:${a.port}`)) out.set(`${a.host}:${a.port}`, a);
    return [...out.values()];
  }

  /** Withdraws this worker's record. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    clearTimeout(this.#announceTimer);
    await this.#announcing;
    const registry = this.#o.registry;
    if (registry === undefined || !this.#announced) return;
    try {
      await registry.deregister(this.#recordId);
    } catch (err) {
      this.#log.warn({ err }, 'could not withdraw from the registry; the record expires by itself');
    }
  }

  #fromRegistry(appId: string): Promise<SiblingAddress[]> {
    const registry = this.#o.registry;
    if (registry === undefined) return Promise.resolve([]);
    const now = this.#now();
    if (now - this.#lastSweep >= Math.min(this.#idleMs, 60_000)) this.#sweep(now);
    const cached = this.#cache.get(appId);
    if (cached !== undefined) {
      // Moved to the most recently used end.
      this.#cache.delete(appId);
      this.#cache.set(appId, cached);
      cached.used = now;
      if (now - cached.at < LOOKUP_TTL_MS) return cached.addresses;
    }
    const entry: CacheEntry = {
      at: now,
      used: now,
      addresses: Promise.resolve([]),
      ...(cached?.settled === undefined ? {} : { settled: cached.settled }),
    };
    entry.addresses = registry.lookup(appId).then(
      (records) => {
        const out: SiblingAddress[] = [];
        for (const r of records) {
          if (r.agentId === this.#o.siblings.agentId || r.agentId.startsWith(`${this.#o.siblings.agentId}.w`)) continue;
          const a = parseAddress(r.address);
          if (a === undefined || this.#selfAddresses.has(`${a.host}:${a.port}`)) continue;
          if (!out.some((o) => o.host === a.host && o.port === a.port)) out.push({ name: `${a.host}:${a.port}`, ...a });
        }
        entry.settled = out;
        return out;
      },
      (err: unknown) => {
        // A registry outage leaves the static peers (and the last answer) until the entry expires.
        this.#log.warn({ err, app: appId }, 'registry lookup failed; using the static sibling list only');
        return entry.settled ?? [];
      },
    );
    this.#cache.delete(appId);
    if (this.#cache.size >= this.#max) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(appId, entry);
    return entry.addresses;
  }

  /** Forgets the apps not asked about for cacheIdleMs. */
  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [appId, entry] of this.#cache) if (now - entry.used >= this.#idleMs) this.#cache.delete(appId);
  }

  #scheduleAnnounce(): void {
    if (this.#closed || this.#announceTimer !== undefined) return;
    this.#announceTimer = setTimeout(() => {
      this.#announceTimer = undefined;
      void this.#announce();
    }, ANNOUNCE_DELAY_MS);
    this.#announceTimer.unref();
  }

  /** Serialised: the registry sees registrations in the order the stream changes happened. */
  #announce(): Promise<void> {
    this.#announcing = this.#announcing.then(async () => {
      const registry = this.#o.registry;
      const advertise = this.#o.siblings.advertise;
      if (this.#closed || registry === undefined || advertise === undefined) return;
      const appIds = this.#o.callbacks.apps().sort();
      // Even a failed first write is kept and retried by the registry's heartbeats.
      this.#announced = true;
      try {
        await registry.register({
          agentId: this.#recordId,
          address: `${advertise.host}:${advertise.port}`,
          appIds,
          metadata: { agentId: this.#o.siblings.agentId, pid: String(this.#o.pid) },
        });
        this.#log.debug({ apps: appIds }, 'announced in the registry');
      } catch (err) {
        this.#log.warn({ err, apps: appIds }, 'registry announcement failed; the registry keeps retrying it');
      }
    });
    return this.#announcing;
  }
}

function parseAddress(address: string): { host: string; port: number } | undefined {
  const i = address.lastIndexOf(':');
  if (i <= 0) return undefined;
  const port = Number(address.slice(i + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port };
}
