// hearth.runtime.v1.PubSub/Publish; the Subscribe stream is transport-specific
// (grpc/pubsub-subscribe.ts, wire/wire-subscribe.ts).
import type { RuntimeApi } from '../../building-blocks/runtime-api.js';
import { type PublishRequest__Output as PublishRequestMsg } from '@hearth/protocol';
import { method, type MethodTable } from './unary-method.js';

export function pubsubMethods(api: RuntimeApi): MethodTable {
  return {
    'hearth.runtime.v1.PubSub/Publish': method('pubsub.publish', async (ctx, req: PublishRequestMsg) => ({
      messageId: await api.pubsub.publish(ctx, {
        pubsubName: req.pubsubName,
        topic: req.topic,
        data: req.data,
        contentType: req.dataContentType,
        metadata: req.metadata,
      }),
    })),
  };
}
