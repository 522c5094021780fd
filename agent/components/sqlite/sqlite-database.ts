// One SQLite file shared by every worker of every generation on the host: app data never lives
// only in a worker, which every upgrade replaces. Several processes write concurrently, so: WAL, a busy timeout, short IMMEDIATE transactions for
// every write, and an async retry when SQLITE_BUSY still escapes. One connection per file per
// process, shared by all components that use it (ref-counted).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { HearthError } from '../../errors/hearth-error.js';
import type { Component, ComponentContext, ComponentHealth } from '../component.js';

export const DEFAULT_DB_FILE = 'hearth.db';
const BUSY_TIMEOUT_MS = 5000;
/** Attempts after busy_timeout already expired; each waits a little longer (async, not blocking). */
const BUSY_RETRIES = 5;
/**
 * Opening can return SQLITE_BUSY without consulting the busy handler: switching a fresh file to WAL,
 * or WAL recovery, while another process does the same (every worker of a generation opens the
 * file at once). Opening is retried with backoff for this long before the worker gives up.
 */
const OPEN_DEADLINE_MS = 10_000;

/** Blocks the thread; only used while opening, before the worker serves anything. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Schema migrations, applied in order; `user_version` records how many ran. Append only: a newer
 * build may run against a file an older build migrated, and an older build (rollback) keeps working
 * on a newer file because migrations only add tables, columns and indexes.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE state (
    component TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    content_type TEXT,
    version INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (component, key)
  ) WITHOUT ROWID;
  CREATE INDEX state_expiry ON state (expires_at) WHERE expires_at IS NOT NULL;
  -- Global ETag counter: versions never repeat, even after a key is deleted and recreated.
  CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;

  CREATE TABLE locks (
    component TEXT NOT NULL,
    resource TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (component, resource)
  ) WITHOUT ROWID;

  CREATE TABLE sequences (
    component TEXT NOT NULL,
    key TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (component, key)
  ) WITHOUT ROWID;

  -- AUTOINCREMENT: rowids are never reused after garbage collection, so a stale delivery id
  -- can never ack a newer message.
  CREATE TABLE pubsub_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    component TEXT NOT NULL,
    topic TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL,
    content_type TEXT NOT NULL,
    metadata TEXT NOT NULL,
    msg_key TEXT,
    published_at INTEGER NOT NULL
  );
  CREATE INDEX pubsub_messages_age ON pubsub_messages (component, published_at);
  CREATE TABLE pubsub_groups (
    component TEXT NOT NULL,
    name TEXT NOT NULL,
    topic TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (component, name, topic)
  ) WITHOUT ROWID;
  CREATE INDEX pubsub_groups_topic ON pubsub_groups (component, topic);
  -- available_at doubles as the lease end while lease_owner is set: a row is claimable when
  -- available_at <= now, whether it was never claimed, nacked or its lease expired.
  CREATE TABLE pubsub_deliveries (
    component TEXT NOT NULL,
    group_name TEXT NOT NULL,
    message_rowid INTEGER NOT NULL,
    topic TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL,
    lease_owner TEXT,
    PRIMARY KEY (component, group_name, message_rowid)
  ) WITHOUT ROWID;
  CREATE INDEX pubsub_deliveries_ready ON pubsub_deliveries (component, group_name, topic, available_at);
  CREATE INDEX pubsub_deliveries_owner ON pubsub_deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
  CREATE INDEX pubsub_deliveries_message ON pubsub_deliveries (message_rowid);
  `,
  // Groups know their app (budgets.subscriptions counts them) and expire when nobody consumes
  // them: last_seen_at + idle_ms. Groups made before this start their idle time now.
  `
  ALTER TABLE pubsub_groups ADD COLUMN app TEXT;
  ALTER TABLE pubsub_groups ADD COLUMN durable INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE pubsub_groups ADD COLUMN last_seen_at INTEGER;
  ALTER TABLE pubsub_groups ADD COLUMN idle_ms INTEGER;
  UPDATE pubsub_groups SET
    app = CASE WHEN instr(name, '||') > 0 THEN substr(name, 1, instr(name, '||') - 1) ELSE name END,
    last_seen_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000,
    idle_ms = 604800000;
  CREATE INDEX pubsub_groups_app ON pubsub_groups (component, app);
  CREATE INDEX pubsub_groups_expiry ON pubsub_groups (component, last_seen_at);
  `,
  // An expired group is emptied in bounded batches over several writes: meanwhile it is marked
  // `expiring` (publishes no longer fan out to it, it no longer counts against its app's budget),
  // and the group row goes last.
  `
  ALTER TABLE pubsub_groups ADD COLUMN expiring INTEGER NOT NULL DEFAULT 0;
  `,
];

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** SQLite failures (disk full, I/O, still busy) become a coded error; our own errors pass through. */
function toBackendError(err: unknown, file: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    return new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `sqlite ${file}: ${code}: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  return err;
}

interface CacheEntry {
  readonly database: SqliteDatabase;
  refs: number;
}

const cache = new Map<string, CacheEntry>();

export class SqliteDatabase {
  readonly file: string;
  readonly db: Database.Database;
  private readonly logger: Logger;

  private constructor(file: string, logger: Logger) {
    this.file = file;
    this.logger = logger;
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    try {
      // busy_timeout first: switching to WAL needs a lock another process may hold.
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.migrate();
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /** Opens (or shares the already open) connection to `file`; pair every call with release(). */
  static acquire(file: string, logger: Logger): SqliteDatabase {
    const abs = path.resolve(file);
    const hit = cache.get(abs);
    if (hit) {
      hit.refs += 1;
      return hit.database;
    }
    let database: SqliteDatabase;
    try {
      database = SqliteDatabase.openWithRetry(abs, logger.child({ sqlite: abs }));
    } catch (err) {
      const mapped = toBackendError(err, abs);
      if (mapped instanceof HearthError) throw mapped;
      throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `cannot open sqlite ${abs}: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
    cache.set(abs, { database, refs: 1 });
    return database;
  }

  private static openWithRetry(file: string, logger: Logger): SqliteDatabase {
    const deadline = Date.now() + OPEN_DEADLINE_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return new SqliteDatabase(file, logger);
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw err;
        logger.debug({ attempt, code: (err as { code?: unknown }).code }, 'sqlite busy while opening; retrying');
        sleepSync(Math.min(25 * attempt, 250));
      }
    }
  }

  /** Drops one reference; the connection closes (checkpointing the WAL) with the last one. */
  release(): void {
    const entry = cache.get(this.file);
    if (!entry || entry.database !== this) return;
    entry.refs -= 1;
    if (entry.refs > 0) return;
    cache.delete(this.file);
    try {
      this.db.close();
    } catch (err) {
      this.logger.warn({ err }, 'closing sqlite database failed');
    }
  }

  get open(): boolean {
    return this.db.open;
  }

  /** Runs fn in one IMMEDIATE transaction (write lock taken up front: no SQLITE_BUSY_SNAPSHOT). */
  async write<T>(fn: () => T): Promise<T> {
    return this.withRetry(() => this.db.transaction(fn).immediate());
  }

  /** Synchronous variant for destroy() paths that cannot wait. */
  writeSync<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      throw toBackendError(err, this.file);
    }
  }

  /** Reads outside an explicit transaction (a consistent snapshot per statement under WAL). */
  async read<T>(fn: () => T): Promise<T> {
    return this.withRetry(fn);
  }

  private async withRetry<T>(fn: () => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (!this.db.open) throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `sqlite ${this.file} is closed`);
      try {
        return fn();
      } catch (err) {
        if (!isBusy(err) || attempt >= BUSY_RETRIES) throw toBackendError(err, this.file);
        this.logger.debug({ err, attempt }, 'sqlite busy; retrying');
        await sleep(10 * 2 ** attempt + Math.random() * 10);
      }
    }
  }

  private migrate(): void {
    const run = this.db.transaction(() => {
      const current = this.db.pragma('user_version', { simple: true }) as number;
      if (current > MIGRATIONS.length) {
        // Written by a newer build; its migrations are additive, so this build still works.
        this.logger.info({ schemaVersion: current, known: MIGRATIONS.length }, 'sqlite schema is newer than this build');
        return;
      }
      for (let v = current; v < MIGRATIONS.length; v++) {
        this.db.exec(MIGRATIONS[v] ?? '');
      }
      if (current < MIGRATIONS.length) {
        this.db.pragma(`user_version = ${MIGRATIONS.length}`);
        this.logger.info({ from: current, to: MIGRATIONS.length }, 'sqlite schema migrated');
      }
    });
    // IMMEDIATE: two processes starting at once must not both run the same migration.
    run.immediate();
  }
}

/** `<stateDir>/hearth.db` unless metadata.path is given (relative to stateDir). */
export function resolveSqlitePath(ctx: ComponentContext): string {
  const given = ctx.config.metadata.path;
  if (given === undefined) return path.join(ctx.stateDir, DEFAULT_DB_FILE);
  if (typeof given !== 'string' || given.length === 0) {
    throw new HearthError('HEARTH_ERR_CONFIG_INVALID', `component "${ctx.config.name}": metadata.path must be a non-empty string`);
  }
  return path.resolve(ctx.stateDir, given);
}

/** Reads an optional positive integer from metadata, naming the key when it is wrong. */
export function metadataInt(ctx: ComponentContext, key: string, fallback: number): number {
  const v = ctx.config.metadata[key];
  if (v === undefined) return fallback;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) {
    throw new HearthError('HEARTH_ERR_CONFIG_INVALID', `component "${ctx.config.name}": metadata.${key} must be a positive integer`);
  }
  return n;
}

type Phase = 'new' | 'started' | 'closed';

/**
 * Lifecycle shared by the SQLite components: acquire the shared connection on start, run one
 * periodic unref'd sweep, release on close/destroy. All idempotent.
 */
export abstract class SqliteComponent<S> implements Component {
  protected readonly logger: Logger;
  protected readonly name: string;
  protected readonly file: string;
  private phase: Phase = 'new';
  private database: SqliteDatabase | undefined;
  private statements: S | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  protected constructor(
    ctx: ComponentContext,
    private readonly sweepIntervalMs: number,
  ) {
    this.name = ctx.config.name;
    this.logger = ctx.logger.child({ component: ctx.config.name, type: ctx.config.type });
    this.file = resolveSqlitePath(ctx);
  }

  async start(): Promise<void> {
    if (this.phase === 'started') return;
    if (this.phase === 'closed') throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `component "${this.name}" is closed`);
    const database = SqliteDatabase.acquire(this.file, this.logger);
    try {
      this.statements = this.prepare(database.db);
    } catch (err) {
      database.release();
      throw err;
    }
    this.database = database;
    this.phase = 'started';
    this.sweepTimer = setInterval(() => this.runSweep(), this.sweepIntervalMs);
    this.sweepTimer.unref();
    this.logger.debug({ file: this.file }, 'started');
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    if (this.phase === 'closed') return;
    try {
      if (this.phase === 'started') await this.beforeClose();
    } finally {
      this.shutdown();
    }
  }

  destroy(): void {
    if (this.phase === 'closed') return;
    try {
      if (this.phase === 'started') this.beforeDestroy();
    } catch (err) {
      this.logger.warn({ err }, 'destroy cleanup failed');
    }
    this.shutdown();
  }

  health(): ComponentHealth {
    if (this.phase !== 'started') return { healthy: false, detail: this.phase === 'new' ? 'not started' : 'closed' };
    if (!this.database?.open) return { healthy: false, detail: `sqlite ${this.file} is closed` };
    return { healthy: true, detail: this.file };
  }

  /** The open connection; throws a coded error outside start()..close(). */
  protected get sqlite(): SqliteDatabase {
    if (this.phase !== 'started' || !this.database) return this.notStarted();
    return this.database;
  }

  private notStarted(): never {
    throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `component "${this.name}" is ${this.phase === 'new' ? 'not started' : 'closed'}`);
  }

  /** The prepared statements of this connection; same guard as `sqlite`. */
  protected get st(): S {
    const statements = this.statements;
    if (this.phase !== 'started' || statements === undefined) return this.notStarted();
    return statements;
  }

  protected get started(): boolean {
    return this.phase === 'started';
  }

  /** Prepares the statements once the connection is open (start()). */
  protected abstract prepare(db: Database.Database): S;

  /** Periodic cleanup (expired rows); must be a short transaction. */
  protected abstract sweep(): Promise<void>;
  /** Graceful cleanup before the connection is released. */
  protected async beforeClose(): Promise<void> {}
  /** Synchronous cleanup before the connection is released on destroy(). */
  protected beforeDestroy(): void {}

  private runSweep(): void {
    if (this.phase !== 'started') return;
    this.sweep().catch((err: unknown) => this.logger.warn({ err }, 'sweep failed'));
  }

  private shutdown(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    const db = this.database;
    this.database = undefined;
    this.statements = undefined;
    this.phase = 'closed';
    db?.release();
  }
}
