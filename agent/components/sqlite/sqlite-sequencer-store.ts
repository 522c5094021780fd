// sequencer.sqlite: one counter row per key, incremented in a single UPSERT under the write lock,
// so ids are strictly increasing across processes. safeIntegers keeps values beyond 2^53 exact.
import type { Database, Statement } from 'better-sqlite3';
import { HearthError } from '../../errors/hearth-error.js';
import type { ComponentContext } from '../component.js';
import type { SequencerStore } from '../sequencer-store.js';
import { SqliteComponent } from './sqlite-database.js';

const INT64_MAX = 2n ** 63n - 1n;

interface Statements {
  next: Statement<[string, string, bigint], { value: bigint }>;
}

export class SqliteSequencerStore extends SqliteComponent<Statements> implements SequencerStore {
  constructor(ctx: ComponentContext) {
    // Nothing expires; the sweep is a no-op, so run it rarely.
    super(ctx, 3_600_000);
  }

  protected override prepare(db: Database): Statements {
    return {
      // The WHERE stops at int64 max: SQLite would otherwise silently turn value + 1 into a REAL.
      next: db
        .prepare<[string, string, bigint], { value: bigint }>(
          `INSERT INTO sequences (component, key, value) VALUES (?, ?, 1)
           ON CONFLICT (component, key) DO UPDATE SET value = value + 1 WHERE value < ?
           RETURNING value`,
        )
        .safeIntegers(true),
    };
  }

  async next(key: string): Promise<bigint> {
    const st = this.st;
    const value = await this.sqlite.write(() => st.next.get(this.name, key, INT64_MAX)?.value);
    if (value === undefined) {
      throw new HearthError('HEARTH_ERR_RESOURCE_EXHAUSTED', `sequence "${key}" reached the 64-bit maximum`);
    }
    return value;
  }

  protected override async sweep(): Promise<void> {}
}
