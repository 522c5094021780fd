// Pub/sub: topic ACLs, CloudEvents wrapping, and per-app consumer groups (`<appId>||<subscription>`)
// so one app can never consume another's subscription, whatever name it picks.
import { AppRegistry, KEY_SEPARATOR } from '../apps/app-registry.js';
import type { BrokerDelivery, PubSubBroker, SubscribeOptions } from '../components/pubsub-broker.js';
import { HearthError } from '../errors/hearth-error.js';
import { boundedInt, guard, resolveComponent, validateKey, validateName, type ApiDeps } from './app-scope.js';
import { buildCloudEvent, CLOUDEVENT_CONTENT_TYPE, DEFAULT_DATA_CONTENT_TYPE } from './cloud-event.js';
import type { CallContext, Delivery, PubSubApi, SubscribeParams, SubscriptionHandle } from './runtime-api.js';

/** The same bounds the configuration schema puts on the defaults. */
const ACK_DEADLINE_MS = { min: 100, max: 3_600_000 } as const;
const DELIVERY_ATTEMPTS = { min: 1, max: 1000 } as const;
const IN_FLIGHT = { min: 1, max: 10_000 } as const;
const MAX_NACK_DELAY_MS = 86_400_000;
const MAX_PULL_WAIT_MS = 60_000;

interface Prepared {
  readonly broker: PubSubBroker;
  readonly pubsubName: string;
  readonly subscription: string;
  readonly options: SubscribeOptions;
}

export function createPubSubApi(deps: ApiDeps): PubSubApi {
  const resolveBroker = (ctx: CallContext, name: string): PubSubBroker =>
    resolveComponent(deps, ctx, 'pubsub', name).component;

  const checkTopic = (ctx: CallContext, topic: string, what = 'topic'): void => {
    validateName(deps, topic, what);
    if (!AppRegistry.canUseTopic(ctx.app, topic)) {
      throw new HearthError('HEARTH_ERR_TOPIC_NOT_ALLOWED', `app "${ctx.app.id}" may not use topic "${topic}"`, { topic });
    }
  };

  const groupOf = (ctx: CallContext, subscription: string): string => {
    validateKey(deps, subscription, 'subscription');
    return `${ctx.app.id}${KEY_SEPARATOR}${subscription}`;
  };

  const prepare = (ctx: CallContext, params: SubscribeParams): Prepared => {
    const broker = resolveBroker(ctx, params.pubsubName);
    checkTopic(ctx, params.topic);
    const subscription = params.subscription || params.topic;
    const defaultDeadLetter = `${params.topic}.dead-letter`;
    const deadLetterTopic = params.deadLetterTopic || defaultDeadLetter;
    // An explicit dead-letter topic is a topic the broker writes on the app's behalf.
    if (deadLetterTopic !== defaultDeadLetter) checkTopic(ctx, deadLetterTopic, 'deadLetterTopic');
    const d = deps.config.pubsub;
    const options: SubscribeOptions = {
      group: groupOf(ctx, subscription),
      topic: params.topic,
      ackDeadlineMs: boundedInt(params.ackDeadlineMs, d.ackDeadlineMs, ACK_DEADLINE_MS.min, ACK_DEADLINE_MS.max, 'ackDeadlineMs'),
      maxDeliveryAttempts: boundedInt(
        params.maxDeliveryAttempts,
        d.maxDeliveryAttempts,
        DELIVERY_ATTEMPTS.min,
        DELIVERY_ATTEMPTS.max,
        'maxDeliveryAttempts',
      ),
      deadLetterTopic,
      maxInFlight: boundedInt(params.maxInFlight, d.maxInFlightPerStream, IN_FLIGHT.min, IN_FLIGHT.max, 'maxInFlight'),
    };
    return { broker, pubsubName: params.pubsubName, subscription, options };
  };

  return {
    publish: guard(async (ctx, params) => {
      const broker = resolveBroker(ctx, params.pubsubName);
      checkTopic(ctx, params.topic);
      const metadata = params.metadata ?? {};
      const raw = metadata.rawPayload?.toLowerCase() === 'true';
      const contentType = params.contentType || DEFAULT_DATA_CONTENT_TYPE;
      const data = raw
        ? params.data
        : buildCloudEvent({ appId: ctx.app.id, pubsubName: params.pubsubName, topic: params.topic, data: params.data, contentType, metadata });
      return broker.publish({
        topic: params.topic,
        data,
        contentType: raw ? contentType : CLOUDEVENT_CONTENT_TYPE,
        metadata: { ...metadata },
        key: metadata.partitionKey || undefined,
      });
    }),

    subscribe: guard(async (ctx, params, deliver): Promise<SubscriptionHandle> => {
      const p = prepare(ctx, params);
      const sub = await p.broker.subscribe(p.options, (d) => deliver(toDelivery(d, p.pubsubName)));
      let closing: Promise<void> | undefined;
      return {
        subscription: p.subscription,
        ack: guard(async (deliveryId: string) => sub.ack(requireDeliveryId(deliveryId))),
        nack: guard(async (deliveryId: string, delayMs: number) =>
          sub.nack(requireDeliveryId(deliveryId), nackDelay(delayMs)),
        ),
        close: () => (closing ??= guard(() => sub.close())()),
      };
    }),

    pull: guard(async (ctx, params, max, waitMs) => {
      const p = prepare(ctx, params);
      const count = boundedInt(max, 1, 1, p.options.maxInFlight, 'max');
      const wait = boundedInt(waitMs, 0, 0, MAX_PULL_WAIT_MS, 'waitMs');
      const got = await p.broker.pull(p.options, count, wait);
      return got.map((d) => toDelivery(d, p.pubsubName));
    }),

    ack: guard(async (ctx, pubsubName, subscription, deliveryId) => {
      const broker = resolveBroker(ctx, pubsubName);
      await broker.ack(groupOf(ctx, subscription), requireDeliveryId(deliveryId));
    }),

    nack: guard(async (ctx, pubsubName, subscription, deliveryId, delayMs) => {
      const broker = resolveBroker(ctx, pubsubName);
      await broker.nack(groupOf(ctx, subscription), requireDeliveryId(deliveryId), nackDelay(delayMs));
    }),
  };
}

function toDelivery(d: BrokerDelivery, pubsubName: string): Delivery {
  return {
    deliveryId: d.deliveryId,
    messageId: d.messageId,
    topic: d.topic,
    pubsubName,
    data: d.data,
    contentType: d.contentType,
    attempt: d.attempt,
    metadata: d.metadata,
  };
}

function requireDeliveryId(deliveryId: string): string {
  if (deliveryId === '') throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'deliveryId is required');
  return deliveryId;
}

function nackDelay(delayMs: number): number {
  return boundedInt(delayMs, 0, 0, MAX_NACK_DELAY_MS, 'delayMs');
}
