// hearth.runtime.v1.PubSub/Subscribe: a bidi stream. The client sends `initial`, gets `ready`,
// then deliveries; it acks or nacks them on the same stream. When the stream ends for any reason
// the subscription handle is closed, so unacked deliveries go back to the group.
import type * as grpc from '@grpc/grpc-js';
import type { SubscriptionHandle } from '../../building-blocks/runtime-api.js';
import { DeliveryQueue } from '../methods/delivery-queue.js';
import { HearthError } from '../../errors/hearth-error.js';
import type { TransportDeps } from '../transport-deps.js';
import { GrpcCall } from './grpc-call.js';
import { type SubscribeRequest__Output as SubscribeRequestMsg, type SubscribeResponse__Output as SubscribeResponseMsg } from '@hearth/protocol';
import { subscriptionClosed, type ActiveStream, type StreamRegistry } from './stream-registry.js';
import { messageBytes, type MalformedMessage } from './wire-codec.js';
import { deliveryIdOf, settleDelivery, subscribeParams, toDeliveryMsg } from '../methods/subscribe-messages.js';

type SubscribeCall = grpc.ServerDuplexStream<SubscribeRequestMsg | MalformedMessage, SubscribeResponseMsg>;

export function subscribeHandler(deps: TransportDeps, streams: StreamRegistry): grpc.handleBidiStreamingCall<SubscribeRequestMsg | MalformedMessage, SubscribeResponseMsg> {
  return (call: SubscribeCall) => {
    const c = new GrpcCall(deps, 'pubsub.subscribe', call.metadata);
    const log = c.ctx.logger;
    let phase: 'waiting' | 'subscribing' | 'active' | 'ended' = 'waiting';
    // A function, so TypeScript does not narrow `phase` across awaits.
    const isEnded = (): boolean => phase === 'ended';
    let handle: SubscriptionHandle | undefined;

    // Backpressure and byte budgets (methods/delivery-queue.ts): while the client is not reading,
    // deliveries wait in bytes the app's budgets allow, then the broker stops claiming for it.
    const queue = new DeliveryQueue({
      app: deps.app,
      budgets: deps.budgets,
      write: (delivery, sent) => writeMessage({ delivery: toDeliveryMsg(delivery) }, sent),
      onWritable: (listener) => void call.once('drain', listener),
      logger: log,
    });
    const writeMessage = (message: SubscribeResponseMsg, sent?: () => void): boolean =>
      call.write(message, () => {
        c.addBytesOut(messageBytes(message));
        sent?.();
      });

    const end = async (err?: unknown, cancelled = false): Promise<void> => {
      if (phase === 'ended') return;
      phase = 'ended';
      streams.delete(entry);
      queue.close();
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
      const h = await deps.api.pubsub.subscribe(c.ctx, params, (d) => queue.deliver(d), queue.credit);
      handle = h;
      if (isEnded()) {
        await h.close(); // the stream ended while we subscribed
        return;
      }
      queue.attach(h, params.ackDeadlineMs);
      phase = 'active';
      writeMessage({ ready: { subscription: h.subscription } });
      queue.start();
    };

    const settle = async (msg: SubscribeRequestMsg): Promise<void> => {
      if (!handle || phase !== 'active') {
        log.info({ deliveryId: deliveryIdOf(msg) }, 'ack/nack before the subscription was ready: ignored');
        return;
      }
      await settleDelivery(handle, msg, log);
    };

    // An ack or nack over the app's quota waits, the stream not read meanwhile (its later messages
    // stay in order behind it), instead of being dropped: a dropped ack would redeliver work done
    // and push it towards the dead-letter topic.
    const settleWithinQuota = (m: SubscribeRequestMsg): void => {
      if (c.admitMessage(m)) {
        settle(m).catch(fail);
        return;
      }
      call.pause();
      const retry = (): void => {
        if (isEnded()) return;
        if (!c.admitMessage(m)) {
          setTimeout(retry, c.messageRetryMs()).unref();
          return;
        }
        settle(m).catch(fail);
        call.resume();
      };
      setTimeout(retry, c.messageRetryMs()).unref();
    };

    const onMessage = (msg: SubscribeRequestMsg | MalformedMessage): void => {
      if (phase === 'ended') return;
      try {
        const m = c.wellFormed(msg);
        if (phase === 'waiting') {
          subscribe(m).catch(fail);
        } else if (m.request === 'ack' || m.request === 'nack') {
          settleWithinQuota(m);
        } else {
          throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', '`initial` may only be the first message; later ones are `ack` or `nack`');
        }
      } catch (err) {
        fail(err);
      }
    };

    try {
      c.authenticate();
      c.holdStream();
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
