// What the gRPC and wire Subscribe streams share: reading the first message into SubscribeParams,
// and applying one ack or nack without letting a late or stale one end the stream.
import type { Logger } from 'pino';
import type { Delivery, SubscribeParams, SubscriptionHandle } from '../../building-blocks/runtime-api.js';
import { HearthError, toHearthError } from '../../errors/hearth-error.js';
import { type Delivery__Output as DeliveryMsg, type SubscribeRequest__Output as SubscribeRequestMsg } from '@hearth/protocol';

/** The subscription a stream's first message asks for; INVALID_ARGUMENT unless it is `initial`. */
export function subscribeParams(msg: SubscribeRequestMsg): SubscribeParams {
  const initial = msg.initial;
  if (msg.request !== 'initial' || !initial) {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'the first message of a subscription must be `initial`');
  }
  return {
    pubsubName: initial.pubsubName,
    topic: initial.topic,
    subscription: initial.subscription,
    ackDeadlineMs: initial.ackDeadlineMs,
    maxDeliveryAttempts: initial.maxDeliveryAttempts,
    deadLetterTopic: initial.deadLetterTopic,
    maxInFlight: initial.maxInFlight,
  };
}

export function deliveryIdOf(msg: SubscribeRequestMsg): string {
  return (msg.request === 'ack' ? msg.ack?.deliveryId : msg.nack?.deliveryId) ?? '';
}

/**
 * Acks or nacks one delivery. A late ack (after the deadline took the delivery back) or a stale
 * id must not tear down a stream that still carries other deliveries: it is logged, and the
 * delivery, if still pending, is redelivered as usual.
 */
export async function settleDelivery(handle: SubscriptionHandle, msg: SubscribeRequestMsg, log: Logger): Promise<void> {
  const deliveryId = deliveryIdOf(msg);
  try {
    if (msg.request === 'ack') await handle.ack(deliveryId);
    else await handle.nack(deliveryId, msg.nack?.delayMs ?? 0);
  } catch (e) {
    const err = toHearthError(e);
    if (err.code === 'HEARTH_ERR_INTERNAL') log.error({ err: e, deliveryId }, 'ack/nack failed');
    else log.info({ code: err.code, deliveryId, message: err.message }, 'ack/nack ignored');
  }
}

/** A delivery as both transports send it (proto `Delivery`). */
export function toDeliveryMsg(d: Delivery): DeliveryMsg {
  return {
    deliveryId: d.deliveryId,
    messageId: d.messageId,
    topic: d.topic,
    pubsubName: d.pubsubName,
    data: d.data,
    dataContentType: d.contentType,
    attempt: d.attempt,
    metadata: { ...d.metadata },
  };
}
