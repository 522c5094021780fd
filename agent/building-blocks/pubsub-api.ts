// Pub/sub: topic ACLs, CloudEvents wrapping, and per-app consumer groups (`<appId>||<subscription>`)
// so one app can never consume another's subscription, whatever name it picks.
import { AppRegistry, KEY_SEPARATOR } from '../apps/app-registry.js';
import {
  DEAD_LETTER_METADATA,
  PUBLISHER_METADATA,
  RESERVED_METADATA_PREFIX,
  type BrokerDelivery,
  type DeliveryCredit,
  type PubSubBroker,
  type SubscribeOptions,
} from '../components/pubsub-broker.js';
import { HearthError } from '../errors/hearth-error.js';
import { boundedInt, guard, resolveComponent, validateKey, validateName, type ApiDeps } from './app-scope.js';
import { buildCloudEvent, CLOUDEVENT_CONTENT_TYPE, checkRawCloudEvent, DEFAULT_DATA_CONTENT_TYPE, mediaType } from './cloud-event.js';
import type { CallContext, Delivery, PubSubApi, SubscribeParams, SubscriptionHandle } from './runtime-api.js';

/** The same bounds the configuration schema puts on the defaults. */
const ACK_DEADLINE_MS = { min: 100, max: 3_600_000 } as const;
const DELIVERY_ATTEMPTS = { min: 1, max: 1000 } as const;
const IN_FLIGHT = { min: 1, max: 10_000 } as const;
const MAX_NACK_DELAY_MS = 86_400_000;
const MAX_PULL_WAIT_MS = 60_000;
/**
 * One pull returns at most this much message data (the first message whatever its size): rendered
 * as one JSON body (base64 a third bigger), 100 deliveries of 4 MiB would be ~530 MB in one string.
 */
const MAX_PULL_BYTES = 16 * 1024 * 1024;

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

  /**
   * The topic the broker writes exhausted messages to on the app's behalf, so the app's ACL must
   * allow it: an explicit one that is not allowed is refused; the default `<topic>.dead-letter`
   * is used only when allowed, otherwise exhausted messages are dropped (and logged).
   */
  const deadLetterOf = (ctx: CallContext, params: SubscribeParams): string => {
    if (params.deadLetterTopic) {
      checkTopic(ctx, params.deadLetterTopic, 'deadLetterTopic');
      return params.deadLetterTopic;
    }
    const fallback = `${params.topic}.dead-letter`;
    return AppRegistry.canUseTopic(ctx.app, fallback) ? fallback : '';
  };

  const prepare = (ctx: CallContext, params: SubscribeParams, durable: boolean): Prepared => {
    const broker = resolveBroker(ctx, params.pubsubName);
    checkTopic(ctx, params.topic);
    const subscription = params.subscription || params.topic;
    const deadLetterTopic = deadLetterOf(ctx, params);
    const d = deps.config.pubsub;
    const options: SubscribeOptions = {
      group: groupOf(ctx, subscription),
      app: ctx.app.id,
      durable,
      idleMs: (durable ? d.subscriptionIdleSeconds : d.pullSubscriptionIdleSeconds) * 1000,
      maxGroups: ctx.app.budgets.subscriptions,
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
      checkMetadata(metadata);
      const raw = metadata.rawPayload?.toLowerCase() === 'true';
      const contentType = params.contentType || DEFAULT_DATA_CONTENT_TYPE;
      // A raw CloudEvent is the app's own: it may not speak for another app.
      if (raw && mediaType(contentType) === CLOUDEVENT_CONTENT_TYPE) checkRawCloudEvent(params.data, ctx.app.id);
      const data = raw
        ? params.data
        : buildCloudEvent({ appId: ctx.app.id, pubsubName: params.pubsubName, topic: params.topic, data: params.data, contentType, metadata });
      return broker.publish({
        topic: params.topic,
        data,
        contentType: raw ? contentType : CLOUDEVENT_CONTENT_TYPE,
        metadata: { ...metadata, [PUBLISHER_METADATA]: ctx.app.id },
        key: metadata.partitionKey || undefined,
      });
    }),

    // The agent's own move of a delivery its app dropped (a push answered DROP): the message as it
    // was (its CloudEvent names its real source), with the provenance a broker's dead-lettering adds.
    deadLetter: guard(async (ctx, params: SubscribeParams, d: Delivery) => {
      const deadLetterTopic = deadLetterOf(ctx, params);
      const group = groupOf(ctx, params.subscription || params.topic);
      // Never back into its own topic, nor a message this group already dead-lettered (a cycle).
      if (deadLetterTopic === '' || deadLetterTopic === d.topic || d.metadata[DEAD_LETTER_METADATA.group] === group) return false;
      const broker = resolveBroker(ctx, params.pubsubName);
      await broker.publish({
        topic: deadLetterTopic,
        data: d.data,
        contentType: d.contentType,
        metadata: {
          ...d.metadata,
          [DEAD_LETTER_METADATA.originalTopic]: d.topic,
          [DEAD_LETTER_METADATA.originalMessageId]: d.messageId,
          [DEAD_LETTER_METADATA.attempts]: String(d.attempt),
          [DEAD_LETTER_METADATA.group]: group,
        },
        key: d.metadata.partitionKey || undefined,
      });
      return true;
    }),

    subscribe: guard(async (ctx, params, deliver, credit?: DeliveryCredit): Promise<SubscriptionHandle> => {
      const p = prepare(ctx, params, true);
      const sub = await p.broker.subscribe(p.options, (d) => deliver(toDelivery(d, p.pubsubName)), credit).catch((err: unknown) => {
        throw counted(deps, ctx, err);
      });
      let closing: Promise<void> | undefined;
      return {
        subscription: p.subscription,
        ack: guard(async (deliveryId: string) => sub.ack(requireDeliveryId(deliveryId))),
        nack: guard(async (deliveryId: string, delayMs: number) =>
          sub.nack(requireDeliveryId(deliveryId), nackDelay(delayMs)),
        ),
        close: () => (closing ??= guard(() => sub.close())()),
        resume: () => sub.resume(),
      };
    }),

    pull: guard(async (ctx, params, max, waitMs) => {
      const p = prepare(ctx, params, params.durable === true);
      const count = boundedInt(max, 1, 1, p.options.maxInFlight, 'max');
      const wait = boundedInt(waitMs, 0, 0, MAX_PULL_WAIT_MS, 'waitMs');
      const got = await p.broker.pull(p.options, count, wait, MAX_PULL_BYTES).catch((err: unknown) => {
        throw counted(deps, ctx, err);
      });
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

/** Publish metadata: `hearth*` keys are the agent's (the publisher, dead-letter provenance). */
function checkMetadata(metadata: Readonly<Record<string, string>>): void {
  for (const key of Object.keys(metadata)) {
    if (key.toLowerCase().startsWith(RESERVED_METADATA_PREFIX)) {
      throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `metadata key "${key.slice(0, 64)}" is reserved for the agent (prefix "${RESERVED_METADATA_PREFIX}")`, {
        key: key.slice(0, 64),
      });
    }
  }
}

function requireDeliveryId(deliveryId: string): string {
  if (deliveryId === '') throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'deliveryId is required');
  return deliveryId;
}

function nackDelay(delayMs: number): number {
  return boundedInt(delayMs, 0, 0, MAX_NACK_DELAY_MS, 'delayMs');
}

/** A broker's refusal at budgets.subscriptions is counted and logged like every budget refusal. */
function counted(deps: ApiDeps, ctx: CallContext, err: unknown): unknown {
  const details = err instanceof HearthError ? (err.details as { budget?: unknown; limit?: unknown } | undefined) : undefined;
  if (details?.budget === 'subscriptions' && typeof details.limit === 'number') deps.budgets?.refuse(ctx.app.id, 'subscriptions', details.limit);
  return err;
}
