import { HearthError } from '../errors/hearth-error.js';
import type { Component } from './component.js';

export interface PublishMessage {
  readonly topic: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Optional ordering / partition key. */
  readonly key: string | undefined;
}

export interface BrokerDelivery {
  /** Opaque, unique within the consumer group; the handle for ack/nack. */
  readonly deliveryId: string;
  readonly messageId: string;
  readonly topic: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** 1 on first delivery. */
  readonly attempt: number;
}

/**
 * Metadata every broker adds to a message it moves to the dead-letter topic (after
 * maxDeliveryAttempts); the rest of the original metadata is kept.
 */
export const DEAD_LETTER_METADATA = {
  originalTopic: 'hearth.deadletter.original-topic',
  originalMessageId: 'hearth.deadletter.original-message-id',
  attempts: 'hearth.deadletter.attempts',
  group: 'hearth.deadletter.group',
} as const;

export interface SubscribeOptions {
  /** Consumer group: `<appId>||<subscription>`, shared by every worker and generation. */
  readonly group: string;
  readonly topic: string;
  readonly ackDeadlineMs: number;
  readonly maxDeliveryAttempts: number;
  readonly deadLetterTopic: string;
  /** Deliveries handed to this consumer and not yet acked/nacked, at most. */
  readonly maxInFlight: number;
}

export interface BrokerSubscription {
  /** Throws HearthError HEARTH_ERR_UNKNOWN_DELIVERY when the id is not pending in this group. */
  ack(deliveryId: string): Promise<void>;
  nack(deliveryId: string, delayMs: number): Promise<void>;
  /** Stops delivering; deliveries not yet acked are returned for redelivery to the group. */
  close(): Promise<void>;
}

/**
 * At-least-once. A group exists from its first subscribe on; messages published to its topic
 * after that are kept until the group acks them or dead-letters them after maxDeliveryAttempts.
 */
export interface PubSubBroker extends Component {
  /** Returns the message id. */
  publish(message: PublishMessage): Promise<string>;
  subscribe(options: SubscribeOptions, deliver: (delivery: BrokerDelivery) => void): Promise<BrokerSubscription>;
  /**
   * Pull-style consumption for HTTP-only apps: registers the group if new, claims up to `max`
   * ready deliveries (each leased for ackDeadlineMs) and returns them, waiting up to `waitMs`
   * for the first one.
   */
  pull(options: SubscribeOptions, max: number, waitMs: number): Promise<BrokerDelivery[]>;
  /** Group-level ack/nack: works from any worker, whichever consumer received the delivery. */
  ack(group: string, deliveryId: string): Promise<void>;
  nack(group: string, deliveryId: string, delayMs: number): Promise<void>;
}

/** Every broker refuses the same malformed subscriptions with the same code. */
export function validateSubscribeOptions(o: SubscribeOptions): void {
  const bad = (field: string): never => {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `subscription ${field} must be a positive integer`);
  };
  if (!o.group || !o.topic) throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'subscription group and topic are required');
  if (!Number.isInteger(o.ackDeadlineMs) || o.ackDeadlineMs <= 0) bad('ackDeadlineMs');
  if (!Number.isInteger(o.maxDeliveryAttempts) || o.maxDeliveryAttempts <= 0) bad('maxDeliveryAttempts');
  if (!Number.isInteger(o.maxInFlight) || o.maxInFlight <= 0) bad('maxInFlight');
}
