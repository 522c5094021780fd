import type { Component } from './component.js';

export type UnlockStatus = 'SUCCESS' | 'LOCK_DOES_NOT_EXIST' | 'LOCK_BELONGS_TO_OTHERS';

/** Resource ids arrive already namespaced by the API layer. */
export interface LockStore extends Component {
  /** True when the lock was taken (or is already held by this owner: the lease is renewed). */
  tryLock(resourceId: string, owner: string, leaseMs: number): Promise<boolean>;
  unlock(resourceId: string, owner: string): Promise<UnlockStatus>;
  /** Extends the lease; false when the lock expired or belongs to another owner. */
  keepAlive(resourceId: string, owner: string, leaseMs: number): Promise<boolean>;
}
