// hearth.runtime.v1.PubSub over gRPC: Publish from the shared method table
// (methods/pubsub-methods.ts), the subscription stream in pubsub-subscribe.ts.
import type * as grpc from '@grpc/grpc-js';
import { grpcUnaryHandlers } from '../methods/grpc-handlers.js';
import { pubsubMethods } from '../methods/pubsub-methods.js';
import type { TransportDeps } from '../transport-deps.js';
import { subscribeHandler } from './pubsub-subscribe.js';
import type { StreamRegistry } from './stream-registry.js';

export function pubsubService(deps: TransportDeps, streams: StreamRegistry): grpc.UntypedServiceImplementation {
  return {
    ...grpcUnaryHandlers(deps, pubsubMethods(deps.api), 'PubSub'),
    Subscribe: subscribeHandler(deps, streams),
  };
}
