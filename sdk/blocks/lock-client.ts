// Typed lock calls (hearth.runtime.v1.Lock): leases held by an owner for a number of seconds,
// released by unlock or by expiry, extended by keepAlive.
import { callOptions, type BlockContext, type RequestOptions } from './request-options.js';
import type { KeepAliveResponse__Output, TryLockResponse__Output, UnlockResponse__Output } from '@hearth/protocol';

const L = 'hearth.runtime.v1.Lock';

export type UnlockStatus = 'SUCCESS' | 'LOCK_DOES_NOT_EXIST' | 'LOCK_BELONGS_TO_OTHERS' | 'INTERNAL_ERROR';

export class LockClient {
  readonly #ctx: BlockContext;

  constructor(ctx: BlockContext) {
    this.#ctx = ctx;
  }

  /** True when `owner` now holds `resourceId` for `expirySeconds`. */
  async tryLock(store: string, resourceId: string, owner: string, expirySeconds: number, options?: RequestOptions): Promise<boolean> {
    const req = { storeName: store, resourceId, lockOwner: owner, expiryInSeconds: expirySeconds };
    const res = (await this.#ctx.transport.unary(`${L}/TryLock`, req, callOptions(options, false))) as TryLockResponse__Output;
    return res.success;
  }

  async unlock(store: string, resourceId: string, owner: string, options?: RequestOptions): Promise<UnlockStatus> {
    const req = { storeName: store, resourceId, lockOwner: owner };
    const res = (await this.#ctx.transport.unary(`${L}/Unlock`, req, callOptions(options, true))) as { status: UnlockStatus } & Omit<UnlockResponse__Output, 'status'>;
    return res.status;
  }

  /** Extends a lease `owner` holds; false when it no longer holds it. */
  async keepAlive(store: string, resourceId: string, owner: string, expirySeconds: number, options?: RequestOptions): Promise<boolean> {
    const req = { storeName: store, resourceId, lockOwner: owner, expiryInSeconds: expirySeconds };
    const res = (await this.#ctx.transport.unary(`${L}/KeepAlive`, req, callOptions(options, true))) as KeepAliveResponse__Output;
    return res.success;
  }
}
