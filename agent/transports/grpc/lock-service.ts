// hearth.runtime.v1.Lock over gRPC.
import type * as grpc from '@grpc/grpc-js';
import type { TransportDeps } from '../transport-deps.js';
import { unary } from './grpc-call.js';
import type { LockRequestMsg } from './grpc-messages.js';

export function lockService(deps: TransportDeps): grpc.UntypedServiceImplementation {
  const lock = deps.api.lock;
  return {
    TryLock: unary(deps, 'lock.tryLock', async (ctx, req: LockRequestMsg) => ({
      success: await lock.tryLock(ctx, req.storeName, req.resourceId, req.lockOwner, req.expiryInSeconds ?? 0),
    })),
    Unlock: unary(deps, 'lock.unlock', async (ctx, req: LockRequestMsg) => ({
      // UnlockStatus names are the proto enum's value names.
      status: await lock.unlock(ctx, req.storeName, req.resourceId, req.lockOwner),
    })),
    KeepAlive: unary(deps, 'lock.keepAlive', async (ctx, req: LockRequestMsg) => ({
      success: await lock.keepAlive(ctx, req.storeName, req.resourceId, req.lockOwner, req.expiryInSeconds ?? 0),
    })),
  };
}
