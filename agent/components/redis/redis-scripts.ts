// The Lua scripts of state.redis, lock.redis and sequencer.redis, and how they are bound to the
// shared client. Each script touches only the keys it is given (KEYS), so it runs unchanged in
// Redis Cluster as long as those keys share a hash slot (always true for one key). Scripts are
// registered with ioredis' defineCommand: sent once per connection with EVAL, then called by SHA.
// Needs Redis >= 5 (scripts replicate their effects, so TIME may precede writes).
import type { RedisClient } from './redis-connection.js';

export interface ScriptDefinition {
  readonly lua: string;
  /** Fixed key count; omitted when the caller passes the count first (variadic scripts). */
  readonly numberOfKeys?: number;
}

/**
 * Defines the scripts on the client unless it already has them. The client is shared by every
 * Redis component of the deployment, so names carry a `hearth` prefix and the block they serve.
 */
export function defineScripts(client: RedisClient, scripts: Readonly<Record<string, ScriptDefinition>>): void {
  for (const [name, def] of Object.entries(scripts)) {
    if (name in client) continue;
    client.defineCommand(name, def.numberOfKeys === undefined ? { lua: def.lua } : { lua: def.lua, numberOfKeys: def.numberOfKeys });
  }
}

/**
 * Defines a script set on whichever client a component is handed, once per client: a call costs
 * one reference comparison, and calls made while start() is still waiting for Redis work too.
 */
export class ScriptBinding<T> {
  private bound: RedisClient | undefined;

  constructor(private readonly scripts: Readonly<Record<string, ScriptDefinition>>) {}

  on(client: RedisClient): RedisClient & T {
    if (client !== this.bound) {
      defineScripts(client, this.scripts);
      this.bound = client;
    }
    return client as RedisClient & T;
  }
}

// --- state.redis -------------------------------------------------------------------------------
// An item is a hash: data (the value, binary-safe), version (the ETag, a decimal integer),
// contentType (absent when none) and expiresAt (epoch ms, only with a TTL; the key then also has
// PEXPIREAT at the same instant, so Redis itself expires it).
//
// Versions without a global counter (a counter key would sit in another Cluster slot): a write
// issues max(previous version + 1, server time in microseconds). Versions of a live key strictly
// increase; after delete + recreate the new version is the current microsecond, later than every
// version issued before, since a key cannot take more than one write per microsecond (Redis runs
// one script at a time and each takes several). Only a server clock stepping back (or a failover
// to a node whose clock is behind) could reissue an old version, and only if a stale ETag holder
// hits that exact microsecond.

/** Shared Lua helpers, prepended to the state scripts. */
const STATE_LUA_HELPERS = `
-- The item's version, '0' for a hash written without one (e.g. by redis-cli), false when absent.
local function currentVersion(key)
  local v = redis.call('HGET', key, 'version')
  if not v and redis.call('EXISTS', key) == 1 then return '0' end
  return v
end

-- The server clock in microseconds (exact in a double until the year 2255).
local function nowMicros()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The next version after prev (a number or nil): never lower than the clock.
local function nextVersion(prev, now)
  if prev and prev >= now then return prev + 1 end
  return now
end

local function fmt(n)
  return string.format('%.0f', n)
end

-- Replaces the item; expiresAt is an epoch-ms string or nil (no TTL).
local function writeItem(key, value, version, contentType, expiresAt)
  redis.call('HSET', key, 'data', value, 'version', version)
  if contentType ~= '' then
    redis.call('HSET', key, 'contentType', contentType)
  else
    redis.call('HDEL', key, 'contentType')
  end
  if expiresAt then
    redis.call('HSET', key, 'expiresAt', expiresAt)
    redis.call('PEXPIREAT', key, expiresAt)
  else
    redis.call('HDEL', key, 'expiresAt')
    redis.call('PERSIST', key)
  end
end
`;

/**
 * KEYS[1] the item. ARGV[1] value, ARGV[2] expected ETag or '', ARGV[3] '1' for first-write,
 * ARGV[4] TTL in ms ('0' = none), ARGV[5] content type or ''.
 * Returns the new version, or 0 when the ETag (or first-write) check fails.
 */
const STATE_SET = `${STATE_LUA_HELPERS}
local key = KEYS[1]
local cur = currentVersion(key)
if ARGV[2] ~= '' then
  if cur ~= ARGV[2] then return 0 end
elseif cur and ARGV[3] == '1' then
  return 0
end
local now = nowMicros()
local version = fmt(nextVersion(cur and tonumber(cur), now))
local ttl = tonumber(ARGV[4])
local expiresAt = nil
if ttl > 0 then expiresAt = fmt(math.floor(now / 1000) + ttl) end
writeItem(key, ARGV[1], version, ARGV[5], expiresAt)
return version
`;

/**
 * KEYS[1] the item. ARGV[1] expected ETag.
 * Returns 1 when deleted, 0 when the ETag does not match (or the item is absent).
 */
const STATE_DELETE = `${STATE_LUA_HELPERS}
if currentVersion(KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

/** ARGV slots per transaction operation. */
export const TRANSACT_STRIDE = 6;

/**
 * KEYS[i] the key of operation i (a key may appear more than once). ARGV holds TRANSACT_STRIDE
 * slots per operation: type ('u' upsert | 'd' delete), expected ETag or '', '1' for first-write,
 * TTL in ms ('0' = none), content type or '', value ('' for deletes).
 * Checks every operation first, in order, against the state the earlier ones leave (as the SQLite
 * store does), then applies them all; Lua cannot roll back, so nothing is written before every
 * check passed. Returns the 0-based index of the first failing operation (an integer), or the new
 * versions in operation order ('' for deletes).
 */
const STATE_TRANSACT = `${STATE_LUA_HELPERS}
local S = ${TRANSACT_STRIDE}
local now = nowMicros()
local live = {}   -- key -> version as the operations so far leave it, or false when absent
local issued = {} -- key -> highest version issued to it by this script
local versions = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local b = (i - 1) * S
  local cur = live[key]
  if cur == nil then cur = currentVersion(key) end
  local etag = ARGV[b + 2]
  if etag ~= '' then
    if cur ~= etag then return i - 1 end
  elseif cur and ARGV[b + 1] == 'u' and ARGV[b + 3] == '1' then
    return i - 1
  end
  if ARGV[b + 1] == 'u' then
    local v = nextVersion(issued[key] or (cur and tonumber(cur)), now)
    issued[key] = v
    versions[i] = fmt(v)
    live[key] = versions[i]
  else
    versions[i] = ''
    live[key] = false
  end
end
local nowMs = math.floor(now / 1000)
for i = 1, #KEYS do
  local b = (i - 1) * S
  if ARGV[b + 1] == 'u' then
    local ttl = tonumber(ARGV[b + 4])
    local expiresAt = nil
    if ttl > 0 then expiresAt = fmt(nowMs + ttl) end
    writeItem(KEYS[i], ARGV[b + 6], versions[i], ARGV[b + 5], expiresAt)
  else
    redis.call('DEL', KEYS[i])
  end
end
return versions
`;

export const STATE_SCRIPTS = {
  hearthStateSet: { lua: STATE_SET, numberOfKeys: 1 },
  hearthStateDelete: { lua: STATE_DELETE, numberOfKeys: 1 },
  hearthStateTransact: { lua: STATE_TRANSACT },
} as const satisfies Record<string, ScriptDefinition>;

/** The client as the state store calls it. */
export interface StateScriptClient {
  hearthStateSet(key: string, value: Buffer, etag: string, firstWrite: string, ttlMs: number, contentType: string): Promise<string | number>;
  hearthStateDelete(key: string, etag: string): Promise<number>;
  /** ioredis flattens the array into the command's arguments. */
  hearthStateTransact(numberOfKeys: number, keysThenArgs: readonly (string | Buffer | number)[]): Promise<number | string[]>;
}

// --- lock.redis --------------------------------------------------------------------------------
// A lock is a string key holding the owner, with the lease as its PX expiry.

/**
 * KEYS[1] the lock, ARGV[1] owner, ARGV[2] lease in ms.
 * Returns 1 when taken (SET NX PX) or already held by this owner (lease renewed), 0 otherwise.
 */
const LOCK_TRY = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/**
 * KEYS[1] the lock, ARGV[1] owner. Compare-and-delete.
 * Returns 1 unlocked, 0 no such lock, -1 held by another owner.
 */
const LOCK_UNLOCK = `
local holder = redis.call('GET', KEYS[1])
if not holder then return 0 end
if holder ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
return 1
`;

/**
 * KEYS[1] the lock, ARGV[1] owner, ARGV[2] lease in ms. Compare-and-pexpire.
 * Returns 1 when the owner's lease was extended, 0 when expired or held by another owner.
 */
const LOCK_KEEP_ALIVE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

export const LOCK_SCRIPTS = {
  hearthLockTry: { lua: LOCK_TRY, numberOfKeys: 1 },
  hearthLockUnlock: { lua: LOCK_UNLOCK, numberOfKeys: 1 },
  hearthLockKeepAlive: { lua: LOCK_KEEP_ALIVE, numberOfKeys: 1 },
} as const satisfies Record<string, ScriptDefinition>;

export interface LockScriptClient {
  hearthLockTry(key: string, owner: string, leaseMs: number): Promise<number>;
  hearthLockUnlock(key: string, owner: string): Promise<number>;
  hearthLockKeepAlive(key: string, owner: string, leaseMs: number): Promise<number>;
}

// --- sequencer.redis ---------------------------------------------------------------------------

/**
 * KEYS[1] the counter. INCR, then the value as a bulk string: an integer reply (and a Lua number)
 * would lose precision above 2^53, the string does not. INCR itself fails at the int64 maximum.
 */
const SEQUENCE_NEXT = `
redis.call('INCR', KEYS[1])
return redis.call('GET', KEYS[1])
`;

export const SEQUENCER_SCRIPTS = {
  hearthSequenceNext: { lua: SEQUENCE_NEXT, numberOfKeys: 1 },
} as const satisfies Record<string, ScriptDefinition>;

export interface SequencerScriptClient {
  hearthSequenceNext(key: string): Promise<string>;
}
