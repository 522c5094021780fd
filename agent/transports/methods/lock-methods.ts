// hearth.runtime.v1.Lock: message mapping only.
import type { RuntimeApi } from '../../building-blocks/runtime-api.js';
import type { LockRequestMsg } from '../grpc/grpc-messages.js';
import { method, type MethodTable } from './unary-method.js';

const L = 'hearth.runtime.v1.Lock';

export function lockMethods(api: RuntimeApi): MethodTable {
  const lock = api.lock;
  return {
    [`${L}/TryLock`]: method('lock.tryLock', async (ctx, req: LockRequestMsg) => ({
      success: await lock.tryLock(ctx, req.storeName, req.resourceId, req.lockOwner, req.expiryInSeconds ?? 0),
    })),
    [`${L}/Unlock`]: method('lock.unlock', async (ctx, req: LockRequestMsg) => ({
      // UnlockStatus names are the proto enum's value names.
      status: await lock.unlock(ctx, req.storeName, req.resourceId, req.lockOwner),
    })),
    [`${L}/KeepAlive`]: method('lock.keepAlive', async (ctx, req: LockRequestMsg) => ({
      success: await lock.keepAlive(ctx, req.storeName, req.resourceId, req.lockOwner, req.expiryInSeconds ?? 0),
    })),
  };
}
