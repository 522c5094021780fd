// hearth.runtime.v1.PubSub/Subscribe over wire, with the semantics of grpc/pubsub-subscribe.ts:
// the Request carries `initial`, the server answers Message{ready}, then Message{delivery}; the
// client acks or nacks with Messages. End or Cancel close the handle (unacked deliveries go back
// to the group; End is answered with Response OK); a drain closes it and answers
// HEARTH_ERR_SUBSCRIPTION_CLOSED so the client resubscribes elsewhere. Message handling is shared
// with the gRPC version (methods/subscribe-messages.ts); the stream plumbing is the wire's own.
import type { Delivery, RuntimeApi, SubscriptionHandle } from '../../building-blocks/runtime-api.js';
import { HearthError } from '../../errors/hearth-error.js';
import { type SubscribeRequest__Output as SubscribeRequestMsg, type SubscribeResponse__Output as SubscribeResponseMsg } from '@hearth/protocol';
import type { WireStreamHandler, WireStreamPort } from './wire-stream.js';
import { deliveryIdOf, settleDelivery, subscribeParams, toDeliveryMsg } from '../methods/subscribe-messages.js';

/** The schema's default ack deadline, used to age out queued deliveries when the app sets none. */
const DEFAULT_ACK_DEADLINE_MS = 30_000;
/** The schema's largest max-in-flight: more queued deliveries than this means the app stopped reading. */
const MAX_QUEUED = 10_000;

interface Queued {
  readonly delivery: Delivery;
  readonly at: number;
}

export function startSubscribe(port: WireStreamPort, api: RuntimeApi, first: unknown): WireStreamHandler {
  const log = port.ctx.logger;
  let ended = false;
  let handle: SubscriptionHandle | undefined;
  let ackDeadlineMs = DEFAULT_ACK_DEADLINE_MS;

  // Backpressure as in the gRPC stream: while the socket is full, deliveries wait here and those
  // older than the ack deadline are dropped (the broker already took them back).
  const queue: Queued[] = [];
  let ready = false;
  let blocked = false;
  const prune = (): void => {
    const cutoff = Date.now() - ackDeadlineMs;
    while (queue.length > 0 && ((queue[0]?.at ?? 0) < cutoff || queue.length > MAX_QUEUED)) queue.shift();
  };
  const write = (message: SubscribeResponseMsg): void => {
    if (port.send(message)) return;
    blocked = true;
    port.onWritable(flush);
  };
  const flush = (): void => {
    if (ended || !ready) return;
    blocked = false;
    prune();
    for (let q = queue.shift(); q !== undefined; q = blocked ? undefined : queue.shift()) write({ delivery: toDeliveryMsg(q.delivery) });
  };
  const deliver = (delivery: Delivery): void => {
    if (ended) return; // the handle is closing: the broker takes it back
    if (ready && !blocked && queue.length === 0) return write({ delivery: toDeliveryMsg(delivery) });
    queue.push({ delivery, at: Date.now() });
    prune();
  };

  /** Closes the handle first, so unacked deliveries are released before the client hears of it. */
  const end = (answer: boolean, err?: unknown): void => {
    if (ended) return;
    ended = true;
    queue.length = 0;
    const closing = handle?.close() ?? Promise.resolve();
    closing
      .catch((e: unknown) => log.warn({ err: e }, 'closing a subscription failed'))
      .finally(() => {
        if (answer) port.finish(err);
      });
  };

  const subscribe = async (msg: SubscribeRequestMsg): Promise<void> => {
    const params = subscribeParams(msg);
    if (params.ackDeadlineMs !== undefined && params.ackDeadlineMs > 0) ackDeadlineMs = params.ackDeadlineMs;
    const h = await api.pubsub.subscribe(port.ctx, params, deliver);
    handle = h;
    if (ended) {
      await h.close(); // the stream ended while we subscribed
      return;
    }
    write({ ready: { subscription: h.subscription } });
    ready = true;
    if (!blocked) flush();
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
