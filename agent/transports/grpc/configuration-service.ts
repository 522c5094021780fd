// hearth.runtime.v1.Configuration/SubscribeConfiguration over gRPC: a server stream of the current
// items followed by changes (the unary get is in the shared method table).
import { randomUUID } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { TransportDeps } from '../transport-deps.js';
import { toConfigurationItems } from '../methods/configuration-methods.js';
import { GrpcCall } from './grpc-call.js';
import { type GetConfigurationRequest__Output as ConfigurationRequestMsg } from '@hearth/protocol';
import { subscriptionClosed, type ActiveStream, type StreamRegistry } from './stream-registry.js';
import { messageBytes, type MalformedMessage } from './wire-codec.js';

export function subscribeConfigurationHandler(deps: TransportDeps, streams: StreamRegistry): grpc.handleServerStreamingCall<ConfigurationRequestMsg | MalformedMessage, unknown> {
  const configuration = deps.api.configuration;
  return (call: grpc.ServerWritableStream<ConfigurationRequestMsg | MalformedMessage, unknown>) => {
    const c = new GrpcCall(deps, 'configuration.subscribe', call.metadata, messageBytes(call.request));
    const id = randomUUID();
    let unsubscribe: (() => void) | undefined;
    let ended = false;
    const end = (err?: unknown): void => {
      if (ended) return;
      ended = true;
      streams.delete(entry);
      unsubscribe?.();
      if (err === undefined) return c.cancelled();
      try {
        call.emit('error', c.fail(err));
      } catch (e) {
        c.ctx.logger.error({ err: e }, 'ending a configuration stream failed');
      }
    };
    const entry: ActiveStream = { shutdown: async () => end(subscriptionClosed()) };
    call.on('cancelled', () => end());

    const start = async (): Promise<void> => {
      c.authenticate();
      c.holdStream();
      const req = c.wellFormed(call.request);
      if (!streams.add(entry)) throw subscriptionClosed();
      const unsub = await configuration.subscribe(c.ctx, req.storeName, req.keys, (items) => {
        if (ended) return;
        const message = { id, items: toConfigurationItems(items) };
        // Changes are rare and small; the writable's buffer is enough backpressure here.
        call.write(message, () => c.addBytesOut(messageBytes(message)));
      });
      if (ended) unsub();
      else unsubscribe = unsub;
    };
    start().catch((err: unknown) => end(err));
  };
}
