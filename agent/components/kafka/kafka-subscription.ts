// One push subscription: a lease holder of its group's shared consumer. Ack/nack work for any
// delivery the group's consumer in this process holds (as with the other brokers, the group is the
// scope); close hands its unacked deliveries back and, when it was the last local user of the
// consumer, stops it (committing what was acked, leaving the group so others take over).
import type { BrokerDelivery, BrokerSubscription, DeliveryCredit, SubscribeOptions } from '../pubsub-broker.js';
import type { GroupConsumer } from './kafka-consumer.js';
import type { PushTarget } from './kafka-dispatcher.js';

export class KafkaSubscription implements BrokerSubscription, PushTarget {
  inFlight = 0;
  /** Set by activate(); cleared by close. */
  #active = false;
  private closing: Promise<void> | undefined;

  constructor(
    readonly consumer: GroupConsumer,
    readonly options: SubscribeOptions,
    private readonly callback: (delivery: BrokerDelivery) => void,
    private readonly onClose: (sub: KafkaSubscription) => Promise<void>,
    private readonly credit?: DeliveryCredit,
  ) {}

  /** Takes deliveries once activated, until closed, and not while its subscriber is paused. */
  get accepting(): boolean {
    return this.#active && this.credit?.paused() !== true;
  }

  /** Starts taking deliveries (after subscribe() has handed out this handle), unless closed. */
  activate(): void {
    if (this.closing === undefined) this.#active = true;
  }

  /** The subscriber has room again: deliveries held for it may go out. */
  resume(): void {
    this.consumer.dispatcher.dispatch();
  }

  deliver(delivery: BrokerDelivery): void {
    this.callback(delivery);
  }

  async ack(deliveryId: string): Promise<void> {
    this.consumer.ack(deliveryId);
  }

  async nack(deliveryId: string, delayMs: number): Promise<void> {
    this.consumer.nack(deliveryId, Math.max(0, delayMs));
  }

  close(): Promise<void> {
    this.#active = false;
    this.closing ??= this.onClose(this);
    return this.closing;
  }
}
