// lock.redis: a lock is the string key `<keys.prefix><resourceId>` (resource ids arrive as
// `<appId>||<resource>`; the prefix is `<keyPrefix>hearth:lock:<name>:app:` or `…:shared:`, see
// config/redis-key-spaces.ts) holding the owner, with the lease as its PX expiry: Redis expires
// it, an expired lock is simply absent. Each operation is one script, so "only the owner" checks
// and the write they guard are atomic.
import type { ComponentContext } from '../component.js';
import type { LockStore, UnlockStatus } from '../lock-store.js';
import { RedisComponent } from './redis-component.js';
import { toRedisError } from './redis-connection.js';
import { LOCK_SCRIPTS, ScriptBinding, type LockScriptClient } from './redis-scripts.js';

export class RedisLockStore extends RedisComponent implements LockStore {
  private readonly scripts = new ScriptBinding<LockScriptClient>(LOCK_SCRIPTS);

  constructor(ctx: ComponentContext) {
    super(ctx);
  }

  async tryLock(resourceId: string, owner: string, leaseMs: number): Promise<boolean> {
    const client = this.scripts.on(this.client);
    try {
      return (await client.hearthLockTry(this.keys.prefix + resourceId, owner, pxMs(leaseMs))) === 1;
    } catch (err) {
      throw toRedisError(err, this.name);
    }
  }

  async unlock(resourceId: string, owner: string): Promise<UnlockStatus> {
    const client = this.scripts.on(this.client);
    let result: number;
    try {
      result = await client.hearthLockUnlock(this.keys.prefix + resourceId, owner);
    } catch (err) {
      throw toRedisError(err, this.name);
    }
    return result === 1 ? 'SUCCESS' : result === 0 ? 'LOCK_DOES_NOT_EXIST' : 'LOCK_BELONGS_TO_OTHERS';
  }

  async keepAlive(resourceId: string, owner: string, leaseMs: number): Promise<boolean> {
    const client = this.scripts.on(this.client);
    try {
      return (await client.hearthLockKeepAlive(this.keys.prefix + resourceId, owner, pxMs(leaseMs))) === 1;
    } catch (err) {
      throw toRedisError(err, this.name);
    }
  }
}

/** PX takes a positive integer; a lease under 1 ms is 1 ms (SQLite: expires at once, near enough). */
function pxMs(leaseMs: number): number {
  return Number.isFinite(leaseMs) && leaseMs >= 1 ? Math.ceil(leaseMs) : 1;
}
