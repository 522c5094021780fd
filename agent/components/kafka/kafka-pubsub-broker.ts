// pubsub.kafka: the PubSubBroker contract on a Kafka cluster (kafkajs).
//
// - publish: one producer per component (idempotent, acks from all in-sync replicas by default),
//   the partition key from PublishMessage.key; record layout in kafka-message.ts.
// - subscribe/pull: a Hearth group (`<app>||<subscription>`) on a topic is one Kafka consumer
//   group shared by every worker of every host; within a process one kafkajs consumer serves all
//   local subscribers and pulls of it (kafka-consumer.ts). Offsets are committed only below
//   what the app acked; attempt counts travel in the commit metadata (kafka-partition.ts).
// - ack/nack by group reach the deliveries this process holds: an HTTP pull-ack that lands on
//   another worker is UNKNOWN_DELIVERY and the message is redelivered after its ack deadline.
// - Kafka down: start() does not fail; publishes fail fast with BACKEND_UNAVAILABLE, health() is
//   unhealthy, consumers restart by themselves and resume when the cluster is back.
import { randomUUID } from 'node:crypto';
import { Kafka, type Admin } from 'kafkajs';
import type { Logger } from 'pino';
import { HearthError } from '../../errors/hearth-error.js';
import type { ComponentContext, ComponentHealth } from '../component.js';
import {
  DEAD_LETTER_METADATA,
  tooManyGroups,
  type BrokerDelivery,
  type DeliveryCredit,
  type BrokerSubscription,
  type PublishMessage,
  type PubSubBroker,
  type SubscribeOptions,
  validateSubscribeOptions,
} from '../pubsub-broker.js';
import { GroupConsumer } from './kafka-consumer.js';
import { parseDeliveryId, unknownDelivery } from './kafka-dispatcher.js';
import { checkKafkaTopic } from './kafka-errors.js';
import type { DecodedMessage } from './kafka-message.js';
import { encodeRecord } from './kafka-message.js';
import { CLIENT_RETRY, kafkaClientConfig, kafkaOptions, type KafkaOptions } from './kafka-options.js';
import type { Entry } from './kafka-partition.js';
import { KafkaPublisher } from './kafka-publisher.js';
import { KafkaSubscription } from './kafka-subscription.js';

/** A consumer used only by pulls leaves its group after this long without a pull. */
const PULL_IDLE_MS = 5 * 60_000;
const IDLE_SWEEP_MS = 30_000;

type Phase = 'new' | 'started' | 'closed';

interface Clients {
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly publisher: KafkaPublisher;
}

export class KafkaPubSubBroker implements PubSubBroker {
  private readonly name: string;
  private readonly logger: Logger;
  private readonly options: KafkaOptions;
  private phase: Phase = 'new';
  private clients: Clients | undefined;
  private readonly consumers = new Map<string, GroupConsumer>();
  /** Consumers finishing their stop; a new subscribe for the same key waits for it. */
  private readonly stopping = new Map<string, Promise<void>>();
  private idleSweep: NodeJS.Timeout | undefined;

  constructor(ctx: ComponentContext) {
    this.name = ctx.config.name;
    this.logger = ctx.logger.child({ component: ctx.config.name, type: ctx.config.type });
    this.options = kafkaOptions(ctx);
  }

  async start(): Promise<void> {
    if (this.phase === 'started') return;
    if (this.phase === 'closed') throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `component "${this.name}" is closed`);
    const kafka = new Kafka(kafkaClientConfig(this.options, this.logger));
    const admin = kafka.admin({ retry: CLIENT_RETRY });
    const publisher = new KafkaPublisher(kafka, this.options, () => this.probe(), this.name, this.logger);
    this.clients = { kafka, admin, publisher };
    this.phase = 'started';
    this.idleSweep = setInterval(() => this.stopIdleConsumers(), IDLE_SWEEP_MS);
    this.idleSweep.unref();
    // Not fatal when Kafka is down: the publisher keeps connecting in the background.
    await publisher.start(this.options.connectionTimeoutMs);
  }

  async publish(message: PublishMessage): Promise<string> {
    const { publisher } = this.started();
    const messageId = randomUUID();
    await publisher.publish(this.kafkaTopic(message.topic), encodeRecord(message, messageId));
    return messageId;
  }

  async subscribe(options: SubscribeOptions, deliver: (delivery: BrokerDelivery) => void, credit?: DeliveryCredit): Promise<BrokerSubscription> {
    validateSubscribeOptions(options);
    const key = `${options.group}\n${options.topic}`;
    let consumer = await this.consumerFor(options);
    // While consumerFor's promise settled, the group's last local subscription may have closed and
    // begun stopping this consumer (stopConsumer drops it from the map at once): take a live one.
    // Checked and attached in one synchronous step, so no stop can slip in between.
    while (this.consumers.get(key) !== consumer) consumer = await this.consumerFor(options);
    const sub = new KafkaSubscription(consumer, options, deliver, (s) => this.unsubscribe(s), credit);
    consumer.dispatcher.addTarget(sub);
    try {
      await consumer.whenStarted(this.options.subscribeTimeoutMs);
    } catch (err) {
      await sub.close();
      throw err;
    }
    // The caller holds the handle before the first delivery reaches its callback.
    setImmediate(() => {
      sub.activate();
      consumer.dispatcher.dispatch();
    });
    return sub;
  }

  async pull(options: SubscribeOptions, max: number, waitMs: number, maxBytes = Infinity): Promise<BrokerDelivery[]> {
    validateSubscribeOptions(options);
    const consumer = await this.consumerFor(options);
    consumer.lastPullAt = Date.now();
    await consumer.whenStarted(this.options.subscribeTimeoutMs);
    const limit = Math.min(Math.floor(max), options.maxInFlight);
    if (!(limit > 0)) return [];
    const got = await consumer.pull(options, limit, Math.max(0, waitMs), maxBytes);
    consumer.lastPullAt = Date.now();
    return got;
  }

  async ack(group: string, deliveryId: string): Promise<void> {
    this.holder(group, deliveryId).ack(deliveryId);
  }

  async nack(group: string, deliveryId: string, delayMs: number): Promise<void> {
    this.holder(group, deliveryId).nack(deliveryId, Math.max(0, delayMs));
  }

  health(): ComponentHealth {
    if (this.phase !== 'started' || !this.clients) return { healthy: false, detail: `component is ${this.phase}` };
    const problems: string[] = [];
    const producer = this.clients.publisher.health();
    if (!producer.healthy) problems.push(producer.detail ?? 'producer unhealthy');
    for (const c of this.consumers.values()) {
      const problem = c.health();
      if (problem !== undefined) problems.push(`${c.groupId}: ${problem}`);
    }
    if (problems.length === 0) return { healthy: true };
    const shown = problems.slice(0, 3).join('; ');
    return { healthy: false, detail: problems.length > 3 ? `${shown}; and ${problems.length - 3} more` : shown };
  }

  /** Stops every consumer (committing what was acked, leaving the groups), then the producer; bounded. */
  async close(): Promise<void> {
    const clients = this.clients;
    if (this.phase !== 'started' || !clients) {
      this.phase = 'closed';
      return;
    }
    this.phase = 'closed';
    if (this.idleSweep) clearInterval(this.idleSweep);
    const wait = this.options.closeTimeoutMs;
    await Promise.allSettled([
      ...[...this.consumers].map(([key, c]) => this.stopConsumer(key, c)),
      ...this.stopping.values(),
      clients.publisher.close(wait),
    ]);
    await Promise.race([clients.admin.disconnect().catch(() => undefined), new Promise((r) => setTimeout(r, wait).unref())]);
  }

  /** Immediate: nothing is committed; Kafka redelivers what this process held to the group. */
  destroy(): void {
    this.phase = 'closed';
    if (this.idleSweep) clearInterval(this.idleSweep);
    for (const c of this.consumers.values()) c.destroy();
    this.consumers.clear();
    this.clients?.publisher.destroy();
    this.clients?.admin.disconnect().catch(() => undefined);
  }

  private started(): Clients {
    if (this.phase !== 'started' || !this.clients) {
      throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `component "${this.name}" is not started`);
    }
    return this.clients;
  }

  private kafkaTopic(topic: string): string {
    const kafkaTopic = `${this.options.topicPrefix}${topic}`;
    checkKafkaTopic(kafkaTopic, topic);
    return kafkaTopic;
  }

  private async adminClient(): Promise<Admin> {
    const { admin } = this.started();
    await admin.connect();
    return admin;
  }

  private async probe(): Promise<void> {
    await (await this.adminClient()).describeCluster();
  }

  /** The process's consumer for this group and topic, created (and started) on first use. */
  private async consumerFor(options: SubscribeOptions): Promise<GroupConsumer> {
    const key = `${options.group}\n${options.topic}`;
    for (;;) {
      const { kafka } = this.started();
      const stopping = this.stopping.get(key);
      if (stopping) {
        await stopping;
        continue;
      }
      const existing = this.consumers.get(key);
      if (existing) return existing;
      // Each group is a Kafka consumer of its own: an app may run `maxGroups` of them here.
      let held = 0;
      for (const c of this.consumers.values()) if (c.dispatcher.options.app === options.app) held += 1;
      if (held >= options.maxGroups) throw tooManyGroups(options.app, options.maxGroups);
      const consumer = new GroupConsumer(
        {
          kafka,
          admin: () => this.adminClient(),
          options: this.options,
          kafkaTopic: this.kafkaTopic(options.topic),
          name: this.name,
          logger: this.logger,
          deadLetter: (entry, decoded, o) => this.deadLetter(entry, decoded, o),
        },
        options,
      );
      this.consumers.set(key, consumer);
      consumer.start();
      return consumer;
    }
  }

  private async unsubscribe(sub: KafkaSubscription): Promise<void> {
    const consumer = sub.consumer;
    const returned = consumer.dispatcher.removeTarget(sub);
    if (returned > 0) this.logger.debug({ group: consumer.group, returned }, 'closed subscription returned its unacked deliveries');
    if (this.idle(consumer, Date.now())) await this.stopConsumer(`${consumer.group}\n${sub.options.topic}`, consumer);
  }

  private idle(consumer: GroupConsumer, now: number): boolean {
    return consumer.dispatcher.targetCount === 0 && consumer.dispatcher.pullLeases === 0 && now - consumer.lastPullAt > PULL_IDLE_MS;
  }

  private stopIdleConsumers(): void {
    const now = Date.now();
    for (const [key, c] of this.consumers) {
      if (this.idle(c, now)) void this.stopConsumer(key, c);
    }
  }

  private async stopConsumer(key: string, consumer: GroupConsumer): Promise<void> {
    if (this.consumers.get(key) !== consumer) return;
    this.consumers.delete(key);
    const done = consumer.stop(this.options.closeTimeoutMs).finally(() => this.stopping.delete(key));
    this.stopping.set(key, done);
    await done;
  }

  /** The local consumer of `group` that issued `deliveryId`; UNKNOWN_DELIVERY if none here did. */
  private holder(group: string, deliveryId: string): GroupConsumer {
    this.started();
    const id = parseDeliveryId(deliveryId);
    if (id) {
      for (const c of this.consumers.values()) if (c.group === group && c.nonce === id.nonce) return c;
    }
    throw unknownDelivery(group, deliveryId);
  }

  /** After maxDeliveryAttempts: to the dead-letter topic with where it came from, or dropped. */
  private async deadLetter(entry: Entry, decoded: DecodedMessage, options: SubscribeOptions): Promise<void> {
    const log = { group: options.group, topic: options.topic, messageId: decoded.messageId, attempts: entry.attempts };
    if (!options.deadLetterTopic) {
      this.logger.warn(log, 'message dropped after max delivery attempts');
      return;
    }
    const { publisher } = this.started();
    const record = encodeRecord(
      {
        topic: options.deadLetterTopic,
        data: decoded.data,
        contentType: decoded.contentType,
        key: undefined,
        metadata: {
          ...decoded.metadata,
          [DEAD_LETTER_METADATA.originalTopic]: options.topic,
          [DEAD_LETTER_METADATA.originalMessageId]: decoded.messageId,
          [DEAD_LETTER_METADATA.attempts]: String(entry.attempts),
          [DEAD_LETTER_METADATA.group]: options.group,
        },
      },
      randomUUID(),
    );
    // Same partition key as the original, so per-key order holds on the dead-letter topic too.
    await publisher.publish(this.kafkaTopic(options.deadLetterTopic), { ...record, key: decoded.key ?? null });
    this.logger.warn({ ...log, deadLetterTopic: options.deadLetterTopic }, 'message moved to the dead-letter topic');
  }
}

