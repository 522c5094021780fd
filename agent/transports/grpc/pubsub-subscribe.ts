// hearth.runtime.v1.PubSub/Subscribe: a bidi stream. The client sends `initial`, gets `ready`,
// then deliveries; it acks or nacks them on the same stream. When the stream ends for any reason
// the subscription handle is closed, so unacked deliveries go back to the group.
import type * as grpc from '@grpc/grpc-js';
import type { Delivery, SubscriptionHandle } from '../../building-blocks/runtime-api.js';
import { HearthError } from '../../errors/hearth-error.js';
import type { TransportDeps } from '../transport-deps.js';
import { GrpcCall } from './grpc-call.js';
import { type SubscribeRequest__Output as SubscribeRequestMsg, type SubscribeResponse__Output as SubscribeResponseMsg } from '@hearth/protocol';
import { subscriptionClosed, type ActiveStream, type StreamRegistry } from './stream-registry.js';
import { messageBytes, type MalformedMessage } from './wire-codec.js';
import { deliveryIdOf, settleDelivery, subscribeParams, toDeliveryMsg } from '../methods/subscribe-messages.js';

type SubscribeCall = grpc.ServerDuplexStream<SubscribeRequestMsg | MalformedMessage, SubscribeResponseMsg>;

/** The schema's default ack deadline, used to age out queued deliveries when the app sets none. */
const DEFAULT_ACK_DEADLINE_MS = 30_000;
/** The schema's largest max-in-flight: more queued deliveries than this means the app stopped reading. */
const MAX_QUEUED = 10_000;

interface Queued {
  readonly delivery: Delivery;
  readonly at: number;
}

export function subscribeHandler(deps: TransportDeps, streams: StreamRegistry): grpc.handleBidiStreamingCall<SubscribeRequestMsg | MalformedMessage, SubscribeResponseMsg> {
  return (call: SubscribeCall) => {
    const c = new GrpcCall(deps, 'pubsub.subscribe', call.metadata);
    const log = c.ctx.logger;
    let phase: 'waiting' | 'subscribing' | 'active' | 'ended' = 'waiting';
    // A function, so TypeScript does not narrow `phase` across awaits.
    const isEnded = (): boolean => phase === 'ended';
    let handle: SubscriptionHandle | undefined;
    let ackDeadlineMs = DEFAULT_ACK_DEADLINE_MS;

    // Backpressure: the broker pushes at most max-in-flight unacked deliveries, but those whose
    // ack deadline passed are taken back and may be pushed again. While the client is not
    // reading, deliveries wait here and the ones older than the ack deadline are dropped: the
    // broker has already taken them back (dropping one early only delays it; it is unacked).
    const queue: Queued[] = [];
    let ready = false; // deliveries wait until `ready` went out
    let blocked = false;
    const prune = (): void => {
      const cutoff = Date.now() - ackDeadlineMs;
      while (queue.length > 0 && ((queue[0]?.at ?? 0) < cutoff || queue.length > MAX_QUEUED)) queue.shift();
    };
    const write = (message: SubscribeResponseMsg): void => {
      const ok = call.write(message, () => c.addBytesOut(messageBytes(message)));
      if (!ok) {
        blocked = true;
        log.debug('subscriber is not keeping up: deliveries wait for drain');
        call.once('drain', flush);
      }
    };
    const flush = (): void => {
      if (phase === 'ended' || !ready) return;
      blocked = false;
      prune();
      for (let q = queue.shift(); q !== undefined; q = blocked ? undefined : queue.shift()) write({ delivery: toDeliveryMsg(q.delivery) });
    };
    const deliver = (delivery: Delivery): void => {
      if (phase === 'ended') return; // the handle is closing: the broker takes it back
      if (ready && !blocked && queue.length === 0) return write({ delivery: toDeliveryMsg(delivery) });
      queue.push({ delivery, at: Date.now() });
      prune();
    };

    const end = async (err?: unknown, cancelled = false): Promise<void> => {
      if (phase === 'ended') return;
      phase = 'ended';
      streams.delete(entry);
      queue.length = 0;
      // Close first: unacked deliveries are released before the client is told to resubscribe.
      await handle?.close().catch((e: unknown) => log.warn({ err: e }, 'closing a subscription failed'));
      if (cancelled) return c.cancelled();
      if (err === undefined) {
        c.ok();
        call.end(c.trailers());
      } else {
        call.emit('error', c.fail(err));
      }
    };
    const entry: ActiveStream = { shutdown: () => end(subscriptionClosed()) };
    const fail = (err: unknown): void => {
      end(err).catch((e: unknown) => log.error({ err: e }, 'ending a subscription stream failed'));
    };

    const subscribe = async (msg: SubscribeRequestMsg): Promise<void> => {
      const params = subscribeParams(msg);
      phase = 'subscribing';
      if (params.ackDeadlineMs !== undefined && params.ackDeadlineMs > 0) ackDeadlineMs = params.ackDeadlineMs;
      const h = await deps.api.pubsub.subscribe(c.ctx, params, deliver);
      handle = h;
      if (isEnded()) {
        await h.close(); // the stream ended while we subscribed
        return;
      }
      phase = 'active';
      write({ ready: { subscription: h.subscription } });
      ready = true;
      if (!blocked) flush();
    };

    const settle = async (msg: SubscribeRequestMsg): Promise<void> => {
      if (!handle || phase !== 'active') {
        log.info({ deliveryId: deliveryIdOf(msg) }, 'ack/nack before the subscription was ready: ignored');
        return;
      }
      await settleDelivery(handle, msg, log);
    };

    const onMessage = (msg: SubscribeRequestMsg | MalformedMessage): void => {
      if (phase === 'ended') return;
      try {
        const m = c.wellFormed(msg);
        if (phase === 'waiting') {
          subscribe(m).catch(fail);
        } else if (m.request === 'ack' || m.request === 'nack') {
          settle(m).catch(fail);
        } else {
          throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', '`initial` may only be the first message; later ones are `ack` or `nack`');
        }
      } catch (err) {
        fail(err);
      }
    };

    try {
      c.authenticate();
      if (!streams.add(entry)) throw subscriptionClosed();
    } catch (err) {
      fail(err);
      return;
    }
    call.on('data', onMessage);
    // Half-close: the client can no longer ack, so deliveries would only pile up.
    call.on('end', () => fail(undefined));
    call.on('cancelled', () => {
      end(undefined, true).catch((e: unknown) => log.error({ err: e }, 'ending a cancelled subscription failed'));
    });
  };
}
