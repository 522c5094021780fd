// state.sqlite: one `state` table for every state component of the file (component column).
// ETags are decimal integers drawn from one database-wide counter, so an ETag never repeats, even
// after a key is deleted and recreated (no ABA).
import type { Database, Statement } from 'better-sqlite3';
import { HearthError } from '../../errors/hearth-error.js';
import type { ComponentContext } from '../component.js';
import type {
  DeleteOperation,
  SetOperation,
  StateStore,
  StoredState,
  TransactionOperation,
} from '../state-store.js';
import { SqliteComponent, metadataInt, type SqliteDatabase } from './sqlite-database.js';

const ETAG_PATTERN = /^[1-9][0-9]{0,15}$/;
const SWEEP_BATCH = 1000;

interface Row {
  value: Buffer;
  content_type: string | null;
  version: number;
  expires_at: number | null;
}

interface Statements {
  get: Statement<[string, string, number], Row>;
  version: Statement<[string, string, number], { version: number }>;
  nextVersion: Statement<[], { value: number }>;
  upsert: Statement<[string, string, Buffer, string | null, number, number | null]>;
  delete: Statement<[string, string]>;
  sweep: Statement<[string, string, number, number]>;
}

export class SqliteStateStore extends SqliteComponent<Statements> implements StateStore {
  constructor(ctx: ComponentContext) {
    super(ctx, metadataInt(ctx, 'sweepIntervalMs', 60_000));
  }

  protected override prepare(db: Database): Statements {
    return {
      get: db.prepare(
        'SELECT value, content_type, version, expires_at FROM state WHERE component = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)',
      ),
      version: db.prepare(
        'SELECT version FROM state WHERE component = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)',
      ),
      nextVersion: db.prepare(
        "INSERT INTO counters (name, value) VALUES ('state.etag', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
      ),
      upsert: db.prepare(
        `INSERT INTO state (component, key, value, content_type, version, expires_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (component, key) DO UPDATE SET value = excluded.value, content_type = excluded.content_type,
           version = excluded.version, expires_at = excluded.expires_at`,
      ),
      delete: db.prepare('DELETE FROM state WHERE component = ? AND key = ?'),
      sweep: db.prepare(
        `DELETE FROM state WHERE component = ? AND key IN (
           SELECT key FROM state WHERE component = ? AND expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)`,
      ),
    };
  }

  async get(key: string): Promise<StoredState | undefined> {
    const { database, st } = this.ready();
    return database.read(() => toStored(st.get.get(this.name, key, Date.now())));
  }

  async bulkGet(keys: readonly string[]): Promise<(StoredState | undefined)[]> {
    const { database, st } = this.ready();
    // One read transaction: all keys come from the same snapshot.
    return database.read(() =>
      database.db.transaction(() => {
        const now = Date.now();
        return keys.map((key) => toStored(st.get.get(this.name, key, now)));
      })(),
    );
  }

  async set(op: SetOperation): Promise<string> {
    const { database, st } = this.ready();
    return database.write(() => this.applySet(st, op, Date.now()));
  }

  async delete(op: DeleteOperation): Promise<boolean> {
    const { database, st } = this.ready();
    return database.write(() => this.applyDelete(st, op, Date.now()));
  }

  async transact(ops: readonly TransactionOperation[]): Promise<string[]> {
    const { database, st } = this.ready();
    return database.write(() => {
      const now = Date.now();
      return ops.map((op, index) => {
        try {
          if (op.type === 'upsert') return this.applySet(st, op, now);
          this.applyDelete(st, op, now);
          return '';
        } catch (err) {
          // Throwing inside the transaction rolls back every earlier operation.
          const code = (err as { code?: unknown }).code;
          if (!(err instanceof HearthError)) throw err;
          throw new HearthError(
            'HEARTH_ERR_TRANSACTION_FAILED',
            `transaction operation ${index} (${op.type} "${op.key}") failed: ${err.code}`,
            { index, code },
            { cause: err },
          );
        }
      });
    });
  }

  protected override async sweep(): Promise<void> {
    const { database, st } = this.ready();
    const removed = await database.write(() => st.sweep.run(this.name, this.name, Date.now(), SWEEP_BATCH).changes);
    if (removed > 0) this.logger.debug({ removed }, 'expired state swept');
  }

  private ready(): { database: SqliteDatabase; st: Statements } {
    return { database: this.sqlite, st: this.st };
  }

  /** Must run inside a write transaction. */
  private applySet(st: Statements, op: SetOperation, now: number): string {
    const current = this.checkEtag(st, op.key, op.etag, now);
    if (op.etag === undefined && op.concurrency === 'first-write' && current !== undefined) {
      throw new HearthError('HEARTH_ERR_ETAG_MISMATCH', `key "${op.key}" already exists (first-write)`);
    }
    const version = st.nextVersion.get()?.value;
    if (version === undefined) throw new HearthError('HEARTH_ERR_INTERNAL', 'etag counter returned no row');
    const expiresAt = op.ttlSeconds !== undefined && op.ttlSeconds > 0 ? now + Math.ceil(op.ttlSeconds * 1000) : null;
    st.upsert.run(this.name, op.key, op.value, op.contentType ?? null, version, expiresAt);
    return String(version);
  }

  /** Must run inside a write transaction. */
  private applyDelete(st: Statements, op: DeleteOperation, now: number): boolean {
    const current = this.checkEtag(st, op.key, op.etag, now);
    if (current === undefined) return false;
    st.delete.run(this.name, op.key);
    return true;
  }

  /** Returns the live version (undefined when absent or expired); enforces a given ETag. */
  private checkEtag(st: Statements, key: string, etag: string | undefined, now: number): number | undefined {
    if (etag !== undefined && !ETAG_PATTERN.test(etag)) {
      throw new HearthError('HEARTH_ERR_ETAG_INVALID', `ETag for key "${key}" is not one this store issued`);
    }
    const current = st.version.get(this.name, key, now)?.version;
    if (etag !== undefined && (current === undefined || String(current) !== etag)) {
      throw new HearthError('HEARTH_ERR_ETAG_MISMATCH', `ETag for key "${key}" does not match`);
    }
    return current;
  }
}

function toStored(row: Row | undefined): StoredState | undefined {
  if (!row) return undefined;
  return {
    value: row.value,
    etag: String(row.version),
    contentType: row.content_type ?? undefined,
    expiresAt: row.expires_at ?? undefined,
  };
}
