// hearth.runtime.v1.Invoke over gRPC: the shared method table (methods/invoke-methods.ts), so gRPC
// and wire map InvokeRequest the same way. ACLs, deadlines, routing and delivery live behind
// api.invoke; the caller's budget (grpc-timeout), trace context and cancellation reach it through
// the CallContext that GrpcCall builds.
import type * as grpc from '@grpc/grpc-js';
import { grpcUnaryHandlers } from '../methods/grpc-handlers.js';
import { invokeMethods } from '../methods/invoke-methods.js';
import type { TransportDeps } from '../transport-deps.js';

export function invokeService(deps: TransportDeps): grpc.UntypedServiceImplementation {
  return grpcUnaryHandlers(deps, invokeMethods(deps.api), 'Invoke');
}
