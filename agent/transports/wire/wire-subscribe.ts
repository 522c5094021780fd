// hearth.runtime.v1.PubSub/Subscribe over wire, with the semantics of grpc/pubsub-subscribe.ts:
// the Request carries `initial`, the server answers Message{ready}, then Message{delivery}; the
// client acks or nacks with Messages. End or Cancel close the handle (unacked deliveries go back
// to the group; End is answered with Response OK); a drain closes it and answers
// HEARTH_ERR_SUBSCRIPTION_CLOSED so the client resubscribes elsewhere. Message handling is shared
// with the gRPC version (methods/subscribe-messages.ts); the stream plumbing is the wire's own.
import type { RuntimeApi, SubscriptionHandle } from '../../building-blocks/runtime-api.js';
import { HearthError } from '../../errors/hearth-error.js';
import { type SubscribeRequest__Output as SubscribeRequestMsg } from '@hearth/protocol';
import { DeliveryQueue } from '../methods/delivery-queue.js';
import type { WireStreamHandler, WireStreamPort } from './wire-stream.js';
import { deliveryIdOf, settleDelivery, subscribeParams, toDeliveryMsg } from '../methods/subscribe-messages.js';

export function startSubscribe(port: WireStreamPort, api: RuntimeApi, first: unknown): WireStreamHandler {
  const log = port.ctx.logger;
  let ended = false;
  let handle: SubscriptionHandle | undefined;
  let ready = false;
  // Backpressure and byte budgets as in the gRPC stream (methods/delivery-queue.ts).
  const queue = new DeliveryQueue({
    app: port.ctx.app,
    budgets: port.budgets,
    // The socket counts what it holds in bytes (its write() is false past its high-water mark), so a
    // delivery is out of the queue's hands once the socket took it.
    write: (delivery, sent) => {
      const ok = port.send({ delivery: toDeliveryMsg(delivery) });
      sent();
      return ok;
    },
    onWritable: (listener) => port.onWritable(listener),
    logger: log,
  });

  /** Closes the handle first, so unacked deliveries are released before the client hears of it. */
  const end = (answer: boolean, err?: unknown): void => {
    if (ended) return;
    ended = true;
    queue.close();
    const closing = handle?.close() ?? Promise.resolve();
    closing
      .catch((e: unknown) => log.warn({ err: e }, 'closing a subscription failed'))
      .finally(() => {
        if (answer) port.finish(err);
      });
  };

  const subscribe = async (msg: SubscribeRequestMsg): Promise<void> => {
    const params = subscribeParams(msg);
    const h = await api.pubsub.subscribe(port.ctx, params, (d) => queue.deliver(d), queue.credit);
    handle = h;
    if (ended) {
      await h.close(); // the stream ended while we subscribed
      return;
    }
    queue.attach(h, params.ackDeadlineMs);
    port.send({ ready: { subscription: h.subscription } });
    ready = true;
    queue.start();
  };
  const settle = async (msg: SubscribeRequestMsg): Promise<void> => {
    if (!handle || !ready) {
      log.info({ deliveryId: deliveryIdOf(msg) }, 'ack/nack before the subscription was ready: ignored');
      return;
    }
    await settleDelivery(handle, msg, log);
  };

  subscribe(first as SubscribeRequestMsg).catch((err: unknown) => end(true, err));

  return {
    message: (request) => {
      if (ended) return;
      const m = request as SubscribeRequestMsg;
      if (m.request === 'ack' || m.request === 'nack') {
        settle(m).catch((err: unknown) => end(true, err));
        return;
      }
      end(true, new HearthError('HEARTH_ERR_INVALID_ARGUMENT', '`initial` may only be the first message; later ones are `ack` or `nack`'));
    },
    // Half-close: the client can no longer ack, so deliveries would only pile up.
    end: () => end(true),
    cancel: () => end(false),
    drain: () => end(true, new HearthError('HEARTH_ERR_SUBSCRIPTION_CLOSED', 'this agent generation is closing the stream; resubscribe')),
  };
}
