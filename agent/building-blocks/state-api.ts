// State: ETag concurrency and TTL are the store's job; this layer validates, applies the ACL,
// namespaces keys per app and gives the app back its own keys.
import type { ConcurrencyMode, SetOperation, StateStore, TransactionOperation } from '../components/state-store.js';
import { HearthError, toHearthError } from '../errors/hearth-error.js';
import {
  checkCount,
  guard,
  parseTtl,
  resolveComponent,
  scopeKey,
  validateKey,
  type ApiDeps,
  type ResolvedComponent,
} from './app-scope.js';
import type { BulkStateResult, CallContext, DeleteItem, SaveItem, StateApi, StateGetResult, TransactionOp } from './runtime-api.js';

const EMPTY = Buffer.alloc(0);
/** What one bulk get may return in values, all keys together. */
const MAX_BULK_GET_BYTES = 64 * 1024 * 1024;
/** Dapr's default: without an explicit mode, a write overwrites (an ETag, when given, is still checked). */
const DEFAULT_CONCURRENCY: ConcurrencyMode = 'last-write';

export function createStateApi(deps: ApiDeps): StateApi {
  const resolve = (ctx: CallContext, store: string): ResolvedComponent<StateStore> =>
    resolveComponent(deps, ctx, 'state', store);

  const toSet = (ctx: CallContext, shared: boolean, item: SaveItem): SetOperation => {
    validateKey(deps, item.key);
    return {
      key: scopeKey(ctx, shared, item.key),
      value: item.value,
      etag: emptyToUndefined(item.etag),
      concurrency: item.concurrency ?? DEFAULT_CONCURRENCY,
      ttlSeconds: parseTtl(item.metadata),
      contentType: emptyToUndefined(item.contentType),
    };
  };

  return {
    get: guard(async (ctx: CallContext, store: string, key: string): Promise<StateGetResult> => {
      const s = resolve(ctx, store);
      validateKey(deps, key);
      const found = await s.component.get(scopeKey(ctx, s.shared, key));
      if (found === undefined) return { found: false, value: EMPTY, etag: '', contentType: '' };
      return { found: true, value: found.value, etag: found.etag, contentType: found.contentType ?? '' };
    }),

    bulkGet: guard(async (ctx: CallContext, store: string, keys: readonly string[]): Promise<BulkStateResult[]> => {
      const s = resolve(ctx, store);
      checkCount(keys.length, deps.config.limits.maxBulkKeys, 'keys in a bulk get');
      for (const key of keys) validateKey(deps, key);
      if (keys.length === 0) return [];
      // Each key fetched once however often it is asked for; the answer may hold at most
      // MAX_BULK_GET_BYTES of values (the same 4 MiB key asked 1,000 times would be 4 GB to render).
      const distinct = [...new Set(keys)];
      const fetched = await s.component.bulkGet(distinct.map((k) => scopeKey(ctx, s.shared, k)));
      const byKey = new Map(distinct.map((k, i) => [k, fetched[i]]));
      let bytes = 0;
      for (const key of keys) bytes += byKey.get(key)?.value.length ?? 0;
      if (bytes > MAX_BULK_GET_BYTES) {
        throw new HearthError('HEARTH_ERR_RESOURCE_EXHAUSTED', `the bulk get would return ${bytes} bytes of values, more than ${MAX_BULK_GET_BYTES}; ask for fewer keys at a time`, {
          limit: MAX_BULK_GET_BYTES,
        });
      }
      // The app's own key goes back, never the namespaced one.
      return keys.map((key) => {
        const v = byKey.get(key);
        return v === undefined
          ? { key, found: false, value: EMPTY, etag: '', contentType: '', error: '' }
          : { key, found: true, value: v.value, etag: v.etag, contentType: v.contentType ?? '', error: '' };
      });
    }),

    save: guard(async (ctx: CallContext, store: string, items: readonly SaveItem[]): Promise<string[]> => {
      const s = resolve(ctx, store);
      checkCount(items.length, deps.config.limits.maxBulkKeys, 'items in a save');
      // Validate everything first so a bad item late in the list writes nothing.
      const ops = items.map((item) => toSet(ctx, s.shared, item));
      const etags: string[] = [];
      // Not atomic across items (Dapr semantics; use a transaction for that): items are written
      // in order and the error names the key that failed.
      for (const [i, op] of ops.entries()) {
        try {
          etags.push(await s.component.set(op));
        } catch (err) {
          throw withKey(err, items[i]?.key ?? '');
        }
      }
      return etags;
    }),

    delete: guard(async (ctx: CallContext, store: string, item: DeleteItem): Promise<boolean> => {
      const s = resolve(ctx, store);
      validateKey(deps, item.key);
      return s.component.delete({
        key: scopeKey(ctx, s.shared, item.key),
        etag: emptyToUndefined(item.etag),
        concurrency: item.concurrency ?? DEFAULT_CONCURRENCY,
      });
    }),

    transact: guard(async (ctx: CallContext, store: string, ops: readonly TransactionOp[]): Promise<string[]> => {
      const s = resolve(ctx, store);
      checkCount(ops.length, deps.config.limits.maxTransactionOps, 'operations in a transaction');
      const mapped = ops.map((op): TransactionOperation => {
        if (op.type === 'upsert') return { type: 'upsert', ...toSet(ctx, s.shared, op) };
        validateKey(deps, op.key);
        return {
          type: 'delete',
          key: scopeKey(ctx, s.shared, op.key),
          etag: emptyToUndefined(op.etag),
          concurrency: op.concurrency ?? DEFAULT_CONCURRENCY,
        };
      });
      if (mapped.length === 0) return [];
      return s.component.transact(mapped);
    }),
  };
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Adds the app's key to a store error so a multi-item save says which item failed. */
function withKey(err: unknown, key: string): HearthError {
  const h = toHearthError(err);
  return new HearthError(h.code, `${h.message} (key "${key}")`, { ...h.details, key }, { cause: err });
}
