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
/** The verified publisher, added to every message by the agent (apps cannot set `hearth*` keys). */
export const PUBLISHER_METADATA = 'hearth.publisher';

/** Metadata keys only the agent writes: an app's publish carrying one is refused. */
export const RESERVED_METADATA_PREFIX = 'hearth';

export const DEAD_LETTER_METADATA = {
  originalTopic: 'hearth.deadletter.original-topic',
  originalMessageId: 'hearth.deadletter.original-message-id',
  attempts: 'hearth.deadletter.attempts',
  group: 'hearth.deadletter.group',
} as const;

export interface SubscribeOptions {
  /** Consumer group: `<appId>||<subscription>`, shared by every worker and generation. */
  readonly group: string;
  /** The app the group belongs to: its groups are counted against `maxGroups`. */
  readonly app: string;
  /**
   * Durable groups live until nobody consumed them for `subscriptionIdleSeconds`; a group only
   * pulled (never subscribed, never asked to be durable) for `pullSubscriptionIdleSeconds`.
   */
  readonly durable: boolean;
  /** The group is deleted (with what it holds) when nobody consumed it for this long. */
  readonly idleMs: number;
  /** How many groups `app` may have on this component; a new one past it is RESOURCE_EXHAUSTED. */
  readonly maxGroups: number;
  readonly topic: string;
  readonly ackDeadlineMs: number;
  readonly maxDeliveryAttempts: number;
  readonly deadLetterTopic: string;
  /** Deliveries handed to this consumer and not yet acked/nacked, at most. */
  readonly maxInFlight: number;
}

/**
 * Flow control a subscriber gives its broker: while `paused()` is true the broker claims nothing
 * more for it, and it claims at most `budgetBytes()` of message bytes at a time (always at least
 * one message). `resume` is called by the subscriber when it has room again.
 */
export interface DeliveryCredit {
  paused(): boolean;
  budgetBytes(): number;
}

/** What a subscriber can tell a live subscription: it has room again (see DeliveryCredit). */
export interface Resumable {
  resume(): void;
}

export interface BrokerSubscription extends Resumable {
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
  subscribe(options: SubscribeOptions, deliver: (delivery: BrokerDelivery) => void, credit?: DeliveryCredit): Promise<BrokerSubscription>;
  /**
   * Pull-style consumption for HTTP-only apps: registers the group if new, claims up to `max`
   * ready deliveries (each leased for ackDeadlineMs) and returns them, waiting up to `waitMs`
   * for the first one. Claims stop once `maxBytes` of message data are taken (always at least one
   * message): one response must not hold more than that, whatever `max` allows.
   */
  pull(options: SubscribeOptions, max: number, waitMs: number, maxBytes?: number): Promise<BrokerDelivery[]>;
  /** Group-level ack/nack: works from any worker, whichever consumer received the delivery. */
  ack(group: string, deliveryId: string): Promise<void>;
  nack(group: string, deliveryId: string, delayMs: number): Promise<void>;
}

/** Every broker refuses the same malformed subscriptions with the same code. */
export function validateSubscribeOptions(o: SubscribeOptions): void {
  const bad = (field: string): never => {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `subscription ${field} must be a positive integer`);
  };
  if (!o.group || !o.topic || !o.app) throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'subscription group, app and topic are required');
  if (!Number.isInteger(o.maxGroups) || o.maxGroups <= 0) bad('maxGroups');
  if (!Number.isInteger(o.idleMs) || o.idleMs <= 0) bad('idleMs');
  if (!Number.isInteger(o.ackDeadlineMs) || o.ackDeadlineMs <= 0) bad('ackDeadlineMs');
  if (!Number.isInteger(o.maxDeliveryAttempts) || o.maxDeliveryAttempts <= 0) bad('maxDeliveryAttempts');
  if (!Number.isInteger(o.maxInFlight) || o.maxInFlight <= 0) bad('maxInFlight');
}

/** A new group past the app's budget: every broker refuses it the same way. */
export function tooManyGroups(app: string, max: number): HearthError {
  return new HearthError('HEARTH_ERR_RESOURCE_EXHAUSTED', `app "${app}" has ${max} subscriptions on this component, its budget (budgets.subscriptions); unused ones expire`, {
    budget: 'subscriptions',
    limit: max,
  });
}
