// hearth.runtime.v1.PubSub over gRPC: publish here, the subscription stream in pubsub-subscribe.ts.
import type * as grpc from '@grpc/grpc-js';
import type { TransportDeps } from '../transport-deps.js';
import { unary } from './grpc-call.js';
import type { PublishRequestMsg } from './grpc-messages.js';
import { subscribeHandler } from './pubsub-subscribe.js';
import type { StreamRegistry } from './stream-registry.js';

export function pubsubService(deps: TransportDeps, streams: StreamRegistry): grpc.UntypedServiceImplementation {
  return {
    Publish: unary(deps, 'pubsub.publish', async (ctx, req: PublishRequestMsg) => ({
      messageId: await deps.api.pubsub.publish(ctx, {
        pubsubName: req.pubsubName,
        topic: req.topic,
        data: req.data,
        contentType: req.dataContentType,
        metadata: req.metadata,
      }),
    })),
    Subscribe: subscribeHandler(deps, streams),
  };
}
