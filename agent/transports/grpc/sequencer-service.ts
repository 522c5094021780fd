// hearth.runtime.v1.Sequencer over gRPC: the shared method table (methods/sequencer-methods.ts).
import type * as grpc from '@grpc/grpc-js';
import { grpcUnaryHandlers } from '../methods/grpc-handlers.js';
import { sequencerMethods } from '../methods/sequencer-methods.js';
import type { TransportDeps } from '../transport-deps.js';

export function sequencerService(deps: TransportDeps): grpc.UntypedServiceImplementation {
  return grpcUnaryHandlers(deps, sequencerMethods(deps.api), 'Sequencer');
}
