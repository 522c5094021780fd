// hearth.runtime.v1.State over gRPC: the shared method table (methods/state-methods.ts).
import type * as grpc from '@grpc/grpc-js';
import { grpcUnaryHandlers } from '../methods/grpc-handlers.js';
import { stateMethods } from '../methods/state-methods.js';
import type { TransportDeps } from '../transport-deps.js';

export function stateService(deps: TransportDeps): grpc.UntypedServiceImplementation {
  return grpcUnaryHandlers(deps, stateMethods(deps.api), 'State');
}
