// state.redis: one hash per item at `<keys.prefix><key>` (keys arrive as `<appId>||<key>`; the
// prefix is `<keyPrefix>hearth:state:<name>:app:` or `…:shared:`, see config/redis-key-spaces.ts),
// laid out as Dapr's Redis state store does: fields data and version, plus contentType and
// expiresAt when set; a TTL is also the key's own expiry. get is one HMGET, set/delete/transact one
// script each (atomic ETag checks; see redis-scripts.ts for how versions stay unique without a
// counter key).
//
// Redis Cluster: every script touches only its own keys, so get/set/delete work on any key.
// transact() needs all its keys in one hash slot (give them a common {hash tag}); otherwise Redis
// answers CROSSSLOT, reported as HEARTH_ERR_INVALID_ARGUMENT. bulkGet is one pipeline outside
// Cluster and parallel commands in Cluster (a pipeline there must stay within one slot).
import { HearthError } from '../../errors/hearth-error.js';
import type { ComponentContext } from '../component.js';
import type {
  DeleteOperation,
  SetOperation,
  StateStore,
  StoredState,
  TransactionOperation,
} from '../state-store.js';
import { RedisComponent } from './redis-component.js';
import { toRedisError, type RedisClient } from './redis-connection.js';
import { STATE_SCRIPTS, ScriptBinding, TRANSACT_STRIDE, type StateScriptClient } from './redis-scripts.js';

/** The versions this store issues (and '0' for items written without one). */
const ETAG_PATTERN = /^(0|[1-9][0-9]{0,15})$/;

type ItemFields = (Buffer | null)[];

export class RedisStateStore extends RedisComponent implements StateStore {
  private readonly scripts = new ScriptBinding<StateScriptClient>(STATE_SCRIPTS);

  constructor(ctx: ComponentContext) {
    super(ctx);
  }

  async get(key: string): Promise<StoredState | undefined> {
    const client = this.client;
    try {
      return toStored(await client.hmgetBuffer(this.keys.prefix + key, 'data', 'version', 'contentType', 'expiresAt'));
    } catch (err) {
      throw toRedisError(err, this.name);
    }
  }

  async bulkGet(keys: readonly string[]): Promise<(StoredState | undefined)[]> {
    if (keys.length === 0) return [];
    const client = this.client;
    try {
      const rows = this.redis.options.mode === 'cluster' ? await this.readEach(client, keys) : await this.readPipelined(client, keys);
      return rows.map(toStored);
    } catch (err) {
      throw toRedisError(err, this.name);
    }
  }

  async set(op: SetOperation): Promise<string> {
    checkEtag(op.key, op.etag);
    const client = this.scripts.on(this.client);
    let result: string | number;
    try {
      result = await client.hearthStateSet(
        this.keys.prefix + op.key,
        op.value,
        op.etag ?? '',
        op.concurrency === 'first-write' ? '1' : '0',
        ttlMs(op.ttlSeconds),
        op.contentType ?? '',
      );
    } catch (err) {
      throw toRedisError(err, this.name);
    }
    if (typeof result === 'string') return result;
    throw mismatch(op.key, op.etag);
  }

  async delete(op: DeleteOperation): Promise<boolean> {
    checkEtag(op.key, op.etag);
    const client = this.scripts.on(this.client);
    let deleted: number;
    try {
      // Without an ETag a plain DEL is atomic already.
      deleted = op.etag === undefined ? await client.del(this.keys.prefix + op.key) : await client.hearthStateDelete(this.keys.prefix + op.key, op.etag);
    } catch (err) {
      throw toRedisError(err, this.name);
    }
    if (op.etag !== undefined && deleted === 0) throw mismatch(op.key, op.etag);
    return deleted === 1;
  }

  async transact(ops: readonly TransactionOperation[]): Promise<string[]> {
    if (ops.length === 0) return [];
    for (const [index, op] of ops.entries()) {
      try {
        checkEtag(op.key, op.etag);
      } catch (err) {
        throw failed(ops, index, err as HearthError);
      }
    }
    const client = this.scripts.on(this.client);
    const args: (string | Buffer | number)[] = new Array<string | Buffer | number>(ops.length * (1 + TRANSACT_STRIDE));
    let a = ops.length;
    for (const [i, op] of ops.entries()) {
      args[i] = this.keys.prefix + op.key;
      if (op.type === 'upsert') {
        args[a++] = 'u';
        args[a++] = op.etag ?? '';
        args[a++] = op.concurrency === 'first-write' ? '1' : '0';
        args[a++] = ttlMs(op.ttlSeconds);
        args[a++] = op.contentType ?? '';
        args[a++] = op.value;
      } else {
        args[a++] = 'd';
        args[a++] = op.etag ?? '';
        args[a++] = '0';
        args[a++] = 0;
        args[a++] = '';
        args[a++] = '';
      }
    }
    let result: number | string[];
    try {
      result = await client.hearthStateTransact(ops.length, args);
    } catch (err) {
      if (/CROSSSLOT/.test((err as Error | null)?.message ?? '')) {
        throw new HearthError(
          'HEARTH_ERR_INVALID_ARGUMENT',
          'in Redis Cluster the keys of one transaction must share a hash slot: give them a common {hash tag}',
          { component: this.name },
          { cause: err },
        );
      }
      throw toRedisError(err, this.name);
    }
    if (typeof result !== 'number') return result;
    const op = ops[result];
    throw failed(ops, result, mismatch(op?.key ?? '', op?.etag));
  }

  /** One pipeline: one write, one round trip. */
  private async readPipelined(client: RedisClient, keys: readonly string[]): Promise<ItemFields[]> {
    const pipeline = client.pipeline();
    for (const key of keys) pipeline.hmgetBuffer(this.keys.prefix + key, 'data', 'version', 'contentType', 'expiresAt');
    const replies = await pipeline.exec();
    if (!replies) throw new HearthError('HEARTH_ERR_INTERNAL', 'redis pipeline returned no replies');
    return replies.map(([err, fields]) => {
      if (err) throw err;
      return fields as ItemFields;
    });
  }

  /** Cluster: the commands go out together to whichever nodes own the keys. */
  private readEach(client: RedisClient, keys: readonly string[]): Promise<ItemFields[]> {
    return Promise.all(keys.map((key) => client.hmgetBuffer(this.keys.prefix + key, 'data', 'version', 'contentType', 'expiresAt')));
  }
}

/** [data, version, contentType, expiresAt] → the item; no data field means no item. */
function toStored(fields: ItemFields): StoredState | undefined {
  const [data, version, contentType, expiresAt] = fields;
  if (!data) return undefined;
  return {
    value: data,
    etag: version ? version.toString('latin1') : '0',
    contentType: contentType ? contentType.toString('utf8') : undefined,
    expiresAt: expiresAt ? epochMs(expiresAt) : undefined,
  };
}

/** A foreign writer's garbage in expiresAt reads as "no expiry reported", not NaN. */
function epochMs(field: Buffer): number | undefined {
  const n = Number(field.toString('latin1'));
  return Number.isFinite(n) ? n : undefined;
}

function ttlMs(ttlSeconds: number | undefined): number {
  return ttlSeconds !== undefined && ttlSeconds > 0 ? Math.ceil(ttlSeconds * 1000) : 0;
}

function checkEtag(key: string, etag: string | undefined): void {
  if (etag !== undefined && !ETAG_PATTERN.test(etag)) {
    throw new HearthError('HEARTH_ERR_ETAG_INVALID', `ETag for key "${key}" is not one this store issued`);
  }
}

function mismatch(key: string, etag: string | undefined): HearthError {
  return etag === undefined
    ? new HearthError('HEARTH_ERR_ETAG_MISMATCH', `key "${key}" already exists (first-write)`)
    : new HearthError('HEARTH_ERR_ETAG_MISMATCH', `ETag for key "${key}" does not match`);
}

/** The transaction error, naming the failed operation and its code (as the SQLite store does). */
function failed(ops: readonly TransactionOperation[], index: number, err: HearthError): HearthError {
  const op = ops[index];
  return new HearthError(
    'HEARTH_ERR_TRANSACTION_FAILED',
    `transaction operation ${index} (${op?.type ?? '?'} "${op?.key ?? ''}") failed: ${err.code}`,
    { index, code: err.code },
    { cause: err },
  );
}
