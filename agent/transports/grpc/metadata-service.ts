// hearth.runtime.v1.Metadata over gRPC: the shared method table (methods/metadata-methods.ts).
import type * as grpc from '@grpc/grpc-js';
import { grpcUnaryHandlers } from '../methods/grpc-handlers.js';
import { metadataMethods } from '../methods/metadata-methods.js';
import type { TransportDeps } from '../transport-deps.js';

export function metadataService(deps: TransportDeps): grpc.UntypedServiceImplementation {
  return grpcUnaryHandlers(deps, metadataMethods(deps.api), 'Metadata');
}
