// lock.sqlite: leases with a wall-clock expiry, shared by every process on the host (same clock).
// An expired row is treated exactly like a missing one; the sweep only reclaims space.
import type { Database, Statement } from 'better-sqlite3';
import type { ComponentContext } from '../component.js';
import type { LockStore, UnlockStatus } from '../lock-store.js';
import { SqliteComponent, metadataInt } from './sqlite-database.js';

const SWEEP_BATCH = 1000;

interface Statements {
  current: Statement<[string, string, number], { owner: string }>;
  upsert: Statement<[string, string, string, number]>;
  delete: Statement<[string, string]>;
  sweep: Statement<[string, string, number, number]>;
}

export class SqliteLockStore extends SqliteComponent<Statements> implements LockStore {
  constructor(ctx: ComponentContext) {
    super(ctx, metadataInt(ctx, 'sweepIntervalMs', 60_000));
  }

  protected override prepare(db: Database): Statements {
    return {
      current: db.prepare('SELECT owner FROM locks WHERE component = ? AND resource = ? AND expires_at > ?'),
      upsert: db.prepare(
        `INSERT INTO locks (component, resource, owner, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (component, resource) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`,
      ),
      delete: db.prepare('DELETE FROM locks WHERE component = ? AND resource = ?'),
      sweep: db.prepare(
        `DELETE FROM locks WHERE component = ? AND resource IN (
           SELECT resource FROM locks WHERE component = ? AND expires_at <= ? LIMIT ?)`,
      ),
    };
  }

  async tryLock(resourceId: string, owner: string, leaseMs: number): Promise<boolean> {
    const st = this.st;
    return this.sqlite.write(() => {
      const now = Date.now();
      const holder = st.current.get(this.name, resourceId, now)?.owner;
      // Free, expired, or already ours (renewal).
      if (holder !== undefined && holder !== owner) return false;
      st.upsert.run(this.name, resourceId, owner, now + leaseMs);
      return true;
    });
  }

  async unlock(resourceId: string, owner: string): Promise<UnlockStatus> {
    const st = this.st;
    return this.sqlite.write((): UnlockStatus => {
      const holder = st.current.get(this.name, resourceId, Date.now())?.owner;
      if (holder === undefined) return 'LOCK_DOES_NOT_EXIST';
      if (holder !== owner) return 'LOCK_BELONGS_TO_OTHERS';
      st.delete.run(this.name, resourceId);
      return 'SUCCESS';
    });
  }

  async keepAlive(resourceId: string, owner: string, leaseMs: number): Promise<boolean> {
    const st = this.st;
    return this.sqlite.write(() => {
      const now = Date.now();
      if (st.current.get(this.name, resourceId, now)?.owner !== owner) return false;
      st.upsert.run(this.name, resourceId, owner, now + leaseMs);
      return true;
    });
  }

  protected override async sweep(): Promise<void> {
    const st = this.st;
    await this.sqlite.write(() => st.sweep.run(this.name, this.name, Date.now(), SWEEP_BATCH));
  }
}
