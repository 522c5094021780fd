// registry.redis: which live agents host instances of which app ids (service discovery for
// agent-to-agent invocation), kept alive by heartbeats.
//
// Layout (P = `<keyPrefix>hearth:registry:{<name>}:`; legacy layout `<keyPrefix>{hearth:registry}:`):
//   Pagent:<agentId>   string, the AgentRecord as JSON, PX ttl: the record IS the liveness; Redis
//                      expires it when heartbeats stop, whatever the clocks of the hosts say.
//   Papp:<appId>       sorted set, member agentId, score = the agent's expiresAt (epoch ms)
//   Pagents            sorted set of every agent, same members and scores
// Each heartbeat re-writes all of it (a restarted, empty Redis gets everything back at the next
// beat), stamps heartbeatAt/expiresAt with the Redis server's clock (one clock for the fleet),
// prunes index members whose expiry has passed, and keeps each index key alive for ttl after its
// last heartbeat, so nothing is left behind forever. Reads never write: lookup = ZRANGE the index,
// MGET the records, keep those that exist and still list the app.
//
// Redis Cluster: the `{<name>}` hash tag (legacy: `{hearth:registry}`) puts every registry key in
// one slot, so the scripts and MGET work there. The scripts also touch the app indexes named in the
// previous record (computed, not passed in KEYS): that is safe only because of the shared slot.
import { HearthError } from '../../errors/hearth-error.js';
import type { ComponentContext } from '../component.js';
import type { AgentRecord, AgentRegistration, ServiceRegistry } from '../service-registry.js';
import { RedisComponent } from './redis-component.js';
import { MetadataReader } from '../component-metadata.js';

const DEFAULT_TTL_MS = 15_000;
const MIN_TTL_MS = 100;

/** Drops the agent from the app indexes its stored record lists (shared by both scripts). */
const DROP_OLD_APPS_LUA = `
local function drop_old_apps(record_key, agent_id, app_prefix, keep)
  local old = redis.call('GET', record_key)
  if not old then return end
  local ok, rec = pcall(cjson.decode, old)
  if not ok or type(rec) ~= 'table' or type(rec.appIds) ~= 'table' then return end
  for _, app in ipairs(rec.appIds) do
    local key = app_prefix .. tostring(app)
    if not keep[key] then redis.call('ZREM', key, agent_id) end
  end
end
`;

/**
 * Register or heartbeat, atomically.
 * KEYS[1] the agent's record, KEYS[2] the all-agents index, KEYS[3..] the index of each app id
 * the registration lists. ARGV[1] agentId, ARGV[2] the registration as a JSON object, ARGV[3] ttl
 * ms, ARGV[4] the prefix of app index keys. Returns {heartbeatAt, expiresAt}.
 */
const REGISTER_LUA = `${DROP_OLD_APPS_LUA}
-- Before Redis 5 a script must opt in to effects replication to write after TIME.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local expires = now + ttl
local keep = {}
for i = 3, #KEYS do keep[KEYS[i]] = true end
drop_old_apps(KEYS[1], ARGV[1], ARGV[4], keep)
-- The registration is a JSON object from JSON.stringify: append the two stamps before its '}'.
local record = string.sub(ARGV[2], 1, -2) .. string.format(',"heartbeatAt":%.0f,"expiresAt":%.0f}', now, expires)
redis.call('SET', KEYS[1], record, 'PX', ttl)
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('(%.0f', now))
  redis.call('ZADD', KEYS[i], string.format('%.0f', expires), ARGV[1])
  -- Extend, never shorten: another agent may beat with a longer ttl.
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return {now, expires}
`;

/**
 * Deregister, atomically. KEYS[1] the agent's record, KEYS[2] the all-agents index, KEYS[3..] app
 * indexes the caller knows it was in. ARGV[1] agentId, ARGV[2] the prefix of app index keys.
 */
const DEREGISTER_LUA = `${DROP_OLD_APPS_LUA}
drop_old_apps(KEYS[1], ARGV[1], ARGV[2], {})
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return redis.call('DEL', KEYS[1])
`;

/** One registration this instance keeps alive. */
interface Announcement {
  readonly registration: AgentRegistration;
  readonly timer: NodeJS.Timeout;
  /** A heartbeat is queued or running: the next tick skips rather than piling up. */
  beating: boolean;
  /** The last write failed (logged once per streak). */
  failing: boolean;
}

export class RedisServiceRegistry extends RedisComponent implements ServiceRegistry {
  private readonly ttlMs: number;
  private readonly base: string;
  private readonly announced = new Map<string, Announcement>();
  /** Writes (register, heartbeat, deregister) run one at a time, so a late heartbeat never undoes a deregister. */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(ctx: ComponentContext) {
    super(ctx);
    this.ttlMs = new MetadataReader(ctx).int('ttlMs', DEFAULT_TTL_MS, MIN_TTL_MS);
    this.base = this.keys.prefix;
  }

  /**
   * Announces (or replaces) the registration and heartbeats it every ttl/3. When the first write
   * fails (Redis down) it rejects with the coded error, but the registration stays and the
   * heartbeats keep trying, so the agent appears once Redis is back; deregister() to give up.
   */
  async register(registration: AgentRegistration): Promise<void> {
    const reg = validRegistration(registration);
    this.assertStarted();
    const previous = this.announced.get(reg.agentId);
    if (previous) clearInterval(previous.timer);
    const timer = setInterval(() => this.heartbeat(reg.agentId), Math.max(1, Math.floor(this.ttlMs / 3)));
    timer.unref();
    const announcement: Announcement = { registration: reg, timer, beating: false, failing: false };
    this.announced.set(reg.agentId, announcement);
    try {
      await this.serialize(() => this.write(reg));
    } catch (err) {
      announcement.failing = true;
      throw err;
    }
  }

  async deregister(agentId: string): Promise<void> {
    if (typeof agentId !== 'string' || agentId.length === 0) throw invalid('agentId must be a non-empty string');
    const announcement = this.announced.get(agentId);
    if (announcement) clearInterval(announcement.timer);
    this.announced.delete(agentId);
    await this.serialize(() => this.remove(agentId, announcement?.registration.appIds ?? []));
  }

  async lookup(appId: string): Promise<AgentRecord[]> {
    if (typeof appId !== 'string' || appId.length === 0) throw invalid('appId must be a non-empty string');
    const records = await this.read(this.appKey(appId));
    return records.filter((r) => r.appIds.includes(appId));
  }

  async agents(): Promise<AgentRecord[]> {
    return this.read(this.agentsKey());
  }

  /** Withdraws what this instance announced (best effort, bounded by the command timeout), then stops. */
  protected override async beforeClose(): Promise<void> {
    const ids = [...this.announced.keys()];
    const done = Promise.allSettled(ids.map((id) => this.deregister(id)));
    const bound = this.redis.options.commandTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), bound);
      timer.unref();
    });
    const outcome = await Promise.race([done, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout' || outcome.some((r) => r.status === 'rejected')) {
      this.logger.warn({ agents: ids }, 'could not deregister on close; the records expire after the ttl');
    }
    this.stopAll();
  }

  protected override onDestroy(): void {
    this.stopAll();
  }

  private stopAll(): void {
    for (const a of this.announced.values()) clearInterval(a.timer);
    this.announced.clear();
  }

  private heartbeat(agentId: string): void {
    const a = this.announced.get(agentId);
    if (!a || a.beating) return;
    a.beating = true;
    // Re-checked when its turn comes: a deregister or re-register queued before it wins.
    void this.serialize(async () => (this.announced.get(agentId) === a ? this.write(a.registration) : undefined))
      .then(() => {
        if (a.failing) this.logger.info({ agentId }, 'registry heartbeat works again; registration restored');
        a.failing = false;
      })
      .catch((err: unknown) => {
        if (!a.failing) this.logger.warn({ err, agentId }, 'registry heartbeat failed; retrying every ttl/3');
        a.failing = true;
      })
      .finally(() => {
        a.beating = false;
      });
  }

  private async write(reg: AgentRegistration): Promise<void> {
    const keys = [this.agentKey(reg.agentId), this.agentsKey(), ...reg.appIds.map((app) => this.appKey(app))];
    await this.call((c) => c.eval(REGISTER_LUA, keys.length, ...keys, reg.agentId, JSON.stringify(reg), this.ttlMs, this.appKey('')));
  }

  private async remove(agentId: string, knownApps: readonly string[]): Promise<void> {
    const keys = [this.agentKey(agentId), this.agentsKey(), ...knownApps.map((app) => this.appKey(app))];
    await this.call((c) => c.eval(DEREGISTER_LUA, keys.length, ...keys, agentId, this.appKey('')));
  }

  /** The records of an index's members that are still alive, most recent heartbeat first. */
  private async read(indexKey: string): Promise<AgentRecord[]> {
    const members = await this.call((c) => c.zrange(indexKey, 0, -1));
    if (members.length === 0) return [];
    const raws = await this.call((c) => c.mget(...members.map((m) => this.agentKey(m))));
    const records: AgentRecord[] = [];
    for (const raw of raws) {
      const record = raw === null ? undefined : parseRecord(raw);
      if (record) records.push(record);
    }
    return records.sort((a, b) => b.heartbeatAt - a.heartbeatAt || (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writes.then(fn, fn);
    this.writes = run.catch(() => undefined);
    return run;
  }



  private agentKey(agentId: string): string {
    return `${this.base}agent:${agentId}`;
  }

  private appKey(appId: string): string {
    return `${this.base}app:${appId}`;
  }

  private agentsKey(): string {
    return `${this.base}agents`;
  }
}

function invalid(message: string): HearthError {
  return new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `registry: ${message}`);
}

/** A clean copy of what the caller passed (no extra fields reach Redis), or INVALID_ARGUMENT. */
function validRegistration(reg: AgentRegistration): AgentRegistration {
  const r = reg as Partial<Record<keyof AgentRegistration, unknown>> | null;
  if (r === null || typeof r !== 'object') throw invalid('the registration must be an object');
  if (typeof r.agentId !== 'string' || r.agentId.length === 0) throw invalid('agentId must be a non-empty string');
  if (typeof r.address !== 'string' || r.address.length === 0) throw invalid('address must be a non-empty string');
  if (!Array.isArray(r.appIds) || !r.appIds.every((a): a is string => typeof a === 'string' && a.length > 0)) {
    throw invalid('appIds must be a list of non-empty strings');
  }
  const metadata = r.metadata ?? {};
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata) || !Object.values(metadata).every((v) => typeof v === 'string')) {
    throw invalid('metadata must be a mapping of strings');
  }
  return {
    agentId: r.agentId,
    address: r.address,
    appIds: [...new Set(r.appIds)],
    metadata: { ...(metadata as Record<string, string>) },
  };
}

/** A stored record, or undefined when it is not one (written by something else; skipped). */
export function parseRecord(raw: string): AgentRecord | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const r = doc as Partial<Record<keyof AgentRecord, unknown>> | null;
  if (r === null || typeof r !== 'object') return undefined;
  if (typeof r.agentId !== 'string' || typeof r.address !== 'string') return undefined;
  if (!Array.isArray(r.appIds) || !r.appIds.every((a): a is string => typeof a === 'string')) return undefined;
  if (typeof r.heartbeatAt !== 'number' || typeof r.expiresAt !== 'number') return undefined;
  const metadata = r.metadata;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return undefined;
  if (!Object.values(metadata).every((v) => typeof v === 'string')) return undefined;
  return Object.freeze({
    agentId: r.agentId,
    address: r.address,
    appIds: Object.freeze([...r.appIds]),
    metadata: Object.freeze({ ...(metadata as Record<string, string>) }),
    heartbeatAt: r.heartbeatAt,
    expiresAt: r.expiresAt,
  });
}
