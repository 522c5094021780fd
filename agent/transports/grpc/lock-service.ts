// hearth.runtime.v1.Lock over gRPC: the shared method table (methods/lock-methods.ts).
import type * as grpc from '@grpc/grpc-js';
import { grpcUnaryHandlers } from '../methods/grpc-handlers.js';
import { lockMethods } from '../methods/lock-methods.js';
import type { TransportDeps } from '../transport-deps.js';

export function lockService(deps: TransportDeps): grpc.UntypedServiceImplementation {
  return grpcUnaryHandlers(deps, lockMethods(deps.api), 'Lock');
}
