// hearth.runtime.v1.Lock: message mapping only.
import type { RuntimeApi } from '../../building-blocks/runtime-api.js';
import type { KeepAliveRequest__Output, TryLockRequest__Output, UnlockRequest__Output } from '@hearth/protocol';
import { method, type MethodTable } from './unary-method.js';

const L = 'hearth.runtime.v1.Lock';

export function lockMethods(api: RuntimeApi): MethodTable {
  const lock = api.lock;
  return {
    [`${L}/TryLock`]: method('lock.tryLock', async (ctx, req: TryLockRequest__Output) => ({
      success: await lock.tryLock(ctx, req.storeName, req.resourceId, req.lockOwner, req.expiryInSeconds),
    })),
    [`${L}/Unlock`]: method('lock.unlock', async (ctx, req: UnlockRequest__Output) => ({
      // UnlockStatus names are the proto enum's value names.
      status: await lock.unlock(ctx, req.storeName, req.resourceId, req.lockOwner),
    })),
    [`${L}/KeepAlive`]: method('lock.keepAlive', async (ctx, req: KeepAliveRequest__Output) => ({
      success: await lock.keepAlive(ctx, req.storeName, req.resourceId, req.lockOwner, req.expiryInSeconds),
    })),
  };
}
