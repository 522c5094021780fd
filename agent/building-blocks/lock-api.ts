// Locks with a lease. Resource ids are namespaced per app (unless the store is shared), so two
// apps locking "orders" never contend.
import type { LockStore } from '../components/lock-store.js';
import { HearthError } from '../errors/hearth-error.js';
import { guard, resolveComponent, scopeKey, validateKey, validateName, type ApiDeps } from './app-scope.js';
import type { CallContext, LockApi } from './runtime-api.js';

/** A day: a longer lease is a lock nobody will ever see released after a crash. */
const MAX_EXPIRY_SECONDS = 86_400;

export function createLockApi(deps: ApiDeps): LockApi {
  const prepare = (ctx: CallContext, store: string, resourceId: string, owner: string): { lock: LockStore; resource: string } => {
    const s = resolveComponent(deps, ctx, 'lock', store);
    validateKey(deps, resourceId, 'resourceId');
    validateName(deps, owner, 'lockOwner');
    return { lock: s.component, resource: scopeKey(ctx, s.shared, resourceId) };
  };

  return {
    tryLock: guard(async (ctx, store, resourceId, owner, expirySeconds) => {
      const { lock, resource } = prepare(ctx, store, resourceId, owner);
      return lock.tryLock(resource, owner, leaseMs(expirySeconds));
    }),
    unlock: guard(async (ctx, store, resourceId, owner) => {
      const { lock, resource } = prepare(ctx, store, resourceId, owner);
      return lock.unlock(resource, owner);
    }),
    keepAlive: guard(async (ctx, store, resourceId, owner, expirySeconds) => {
      const { lock, resource } = prepare(ctx, store, resourceId, owner);
      return lock.keepAlive(resource, owner, leaseMs(expirySeconds));
    }),
  };
}

function leaseMs(expirySeconds: number): number {
  if (!Number.isInteger(expirySeconds) || expirySeconds <= 0 || expirySeconds > MAX_EXPIRY_SECONDS) {
    throw new HearthError(
      'HEARTH_ERR_INVALID_ARGUMENT',
      `expiryInSeconds must be an integer in [1, ${MAX_EXPIRY_SECONDS}], got ${expirySeconds}`,
    );
  }
  return expirySeconds * 1000;
}
