// Typed state calls (hearth.runtime.v1.State): values go in as Buffer, string or JSON and come
// back as Payloads; ETags give optimistic concurrency, `ttlSeconds` maps to the ttlInSeconds
// metadata the agent reads.
import { encodeValue, payload, type Payload, type Value } from '../payload.js';
import { callOptions, type BlockContext, type RequestOptions } from './request-options.js';
import type { BulkStateItem__Output, DeleteStateResponse__Output, ExecuteStateTransactionResponse__Output, GetBulkStateResponse__Output, GetStateResponse__Output, SaveStateResponse__Output } from '@hearth/protocol';

const S = 'hearth.runtime.v1.State';

export type Concurrency = 'first-write' | 'last-write';

export interface StateEntry extends Payload {
  readonly key: string;
  readonly found: boolean;
  readonly etag: string;
  /** Per-key failure in a bulk read (empty when fine). */
  readonly error: string;
}

export interface SaveOptions extends RequestOptions {
  /** Save only if the stored item still has this ETag. */
  readonly etag?: string;
  readonly concurrency?: Concurrency;
  readonly ttlSeconds?: number;
  readonly contentType?: string;
  readonly metadata?: Record<string, string>;
}

export interface DeleteOptions extends RequestOptions {
  readonly etag?: string;
  readonly concurrency?: Concurrency;
}

export interface SaveItem extends Omit<SaveOptions, keyof RequestOptions> {
  readonly key: string;
  readonly value: Value;
}

export type TransactionOperation =
  | ({ readonly op: 'upsert' } & SaveItem)
  | { readonly op: 'delete'; readonly key: string; readonly etag?: string; readonly concurrency?: Concurrency };


export class StateClient {
  readonly #ctx: BlockContext;

  constructor(ctx: BlockContext) {
    this.#ctx = ctx;
  }

  /** `found` is false (and `data` empty) for a missing key. */
  async get(store: string, key: string, options?: RequestOptions): Promise<StateEntry> {
    const res = (await this.#ctx.transport.unary(`${S}/GetState`, { storeName: store, key }, callOptions(options, true))) as GetStateResponse__Output;
    return entry({ ...res, key, error: '' });
  }

  async getBulk(store: string, keys: readonly string[], options?: RequestOptions): Promise<StateEntry[]> {
    const res = (await this.#ctx.transport.unary(`${S}/GetBulkState`, { storeName: store, keys }, callOptions(options, true))) as GetBulkStateResponse__Output;
    return res.items.map(entry);
  }

  /** Saves one value; returns its new ETag. */
  async save(store: string, key: string, value: Value, options: SaveOptions = {}): Promise<string> {
    const [etag] = await this.saveBulk(store, [{ ...options, key, value }], options);
    return etag ?? '';
  }

  /** Saves several values at once; returns their ETags in order. */
  async saveBulk(store: string, items: readonly SaveItem[], options?: RequestOptions): Promise<string[]> {
    // Without ETags a save is a put: running it twice leaves the same state.
    const idempotent = items.every((i) => i.etag === undefined);
    const res = (await this.#ctx.transport.unary(`${S}/SaveState`, { storeName: store, states: items.map(stateItem) }, callOptions(options, idempotent))) as SaveStateResponse__Output;
    return res.etags;
  }

  /** True when the key existed. */
  async delete(store: string, key: string, options: DeleteOptions = {}): Promise<boolean> {
    const request = { storeName: store, key, ...(options.etag !== undefined ? { etag: { value: options.etag } } : {}), options: stateOptions(options.concurrency) };
    const res = (await this.#ctx.transport.unary(`${S}/DeleteState`, request, callOptions(options, true))) as DeleteStateResponse__Output;
    return res.deleted;
  }

  /** All or nothing; returns the ETags of the upserts in order. */
  async transact(store: string, operations: readonly TransactionOperation[], options?: RequestOptions): Promise<string[]> {
    const ops = operations.map((o) =>
      o.op === 'upsert'
        ? { operationType: 'upsert', request: stateItem(o) }
        : { operationType: 'delete', request: { key: o.key, ...(o.etag !== undefined ? { etag: { value: o.etag } } : {}), options: stateOptions(o.concurrency) } },
    );
    const res = (await this.#ctx.transport.unary(`${S}/ExecuteStateTransaction`, { storeName: store, operations: ops }, callOptions(options, false))) as ExecuteStateTransactionResponse__Output;
    return res.etags;
  }
}

function entry(m: Omit<BulkStateItem__Output, 'metadata'>): StateEntry {
  return payload<Omit<StateEntry, keyof Payload>>(m.data, m.contentType, { key: m.key, found: m.found, etag: m.etag, error: m.error });
}

function stateItem(item: SaveItem): object {
  const { data, contentType } = encodeValue(item.value, item.contentType);
  const metadata: Record<string, string> = { ...item.metadata };
  if (item.ttlSeconds !== undefined) metadata.ttlInSeconds = String(item.ttlSeconds);
  return {
    key: item.key,
    value: data,
    contentType,
    metadata,
    ...(item.etag !== undefined ? { etag: { value: item.etag } } : {}),
    options: stateOptions(item.concurrency),
  };
}

function stateOptions(concurrency: Concurrency | undefined): object {
  if (concurrency === 'first-write') return { concurrency: 'CONCURRENCY_FIRST_WRITE' };
  if (concurrency === 'last-write') return { concurrency: 'CONCURRENCY_LAST_WRITE' };
  return { concurrency: 'CONCURRENCY_UNSPECIFIED' };
}
