import type { Component } from './component.js';

export type ConcurrencyMode = 'first-write' | 'last-write';

export interface StoredState {
  readonly value: Buffer;
  readonly etag: string;
  readonly contentType: string | undefined;
  /** Epoch ms, when a TTL was set. */
  readonly expiresAt: number | undefined;
}

export interface SetOperation {
  readonly key: string;
  readonly value: Buffer;
  /** Expected ETag; checked in both modes when present. */
  readonly etag: string | undefined;
  /** first-write without an ETag succeeds only when the key does not exist. */
  readonly concurrency: ConcurrencyMode;
  readonly ttlSeconds: number | undefined;
  readonly contentType: string | undefined;
}

export interface DeleteOperation {
  readonly key: string;
  readonly etag: string | undefined;
  readonly concurrency: ConcurrencyMode;
}

export type TransactionOperation =
  | ({ readonly type: 'upsert' } & SetOperation)
  | ({ readonly type: 'delete' } & DeleteOperation);

/**
 * Keys arrive already namespaced by the API layer. Failures throw HearthError with
 * HEARTH_ERR_ETAG_MISMATCH, HEARTH_ERR_ETAG_INVALID, HEARTH_ERR_BACKEND_UNAVAILABLE or
 * HEARTH_ERR_TRANSACTION_FAILED (wrapping the failed operation's code in details).
 */
export interface StateStore extends Component {
  get(key: string): Promise<StoredState | undefined>;
  bulkGet(keys: readonly string[]): Promise<(StoredState | undefined)[]>;
  /** Returns the new ETag. */
  set(op: SetOperation): Promise<string>;
  /** Returns whether an item was deleted; a missing key without an ETag is not an error. */
  delete(op: DeleteOperation): Promise<boolean>;
  /** All or nothing; returns new ETags in operation order ('' for deletes). */
  transact(ops: readonly TransactionOperation[]): Promise<string[]>;
}
