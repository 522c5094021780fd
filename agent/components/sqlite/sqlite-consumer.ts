// One push subscription of the SQLite broker: polls for deliveries other processes made ready
// (short unref'd interval), is woken at once by local publishes, never holds more than
// maxInFlight unexpired leases, claims nothing while its subscriber is paused and no more bytes
// than its budget, keeps its group from expiring while it lives, and hands its leases back to the
// group when closed.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { BrokerDelivery, BrokerSubscription, DeliveryCredit, SubscribeOptions } from '../pubsub-broker.js';
import type { SqlitePubSubBroker } from './sqlite-pubsub-broker.js';

const TOUCH_EVERY_MS = 60_000;

export class SqliteConsumer implements BrokerSubscription {
  /** The lease owner written to the database: unique across processes and restarts. */
  readonly id = `${process.pid}-${randomUUID()}`;
  readonly group: string;
  readonly topic: string;
  private readonly logger: Logger;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private running = false;
  private again = false;
  private touchedAt = Date.now();

  constructor(
    private readonly broker: SqlitePubSubBroker,
    private readonly options: SubscribeOptions,
    private readonly deliver: (delivery: BrokerDelivery) => void,
    private readonly pollIntervalMs: number,
    logger: Logger,
    private readonly credit?: DeliveryCredit,
  ) {
    this.group = options.group;
    this.topic = options.topic;
    this.logger = logger.child({ group: options.group, topic: options.topic, consumer: this.id });
  }

  start(): void {
    this.timer = setInterval(() => this.wake(), this.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  /** Asks for a claim round soon; coalesces with one already running. */
  wake(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => {
      this.pump().catch((err: unknown) => this.logger.error({ err }, 'subscription pump failed'));
    });
  }

  /** The subscriber has room again after pausing. */
  resume(): void {
    this.wake();
  }

  async ack(deliveryId: string): Promise<void> {
    await this.broker.ack(this.group, deliveryId);
  }

  async nack(deliveryId: string, delayMs: number): Promise<void> {
    await this.broker.nack(this.group, deliveryId, delayMs);
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  /** Stops polling without touching the database (destroy path). */
  stop(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async doClose(): Promise<void> {
    this.stop();
    try {
      const released = await this.broker.release(this.id);
      if (released > 0) this.logger.debug({ released }, 'unacked deliveries returned to the group');
    } finally {
      this.broker.forget(this);
    }
  }

  private async pump(): Promise<void> {
    try {
      do {
        this.again = false;
        if (this.closed) return;
        await this.keepGroup();
        // Paused: the subscriber's socket is full; it calls resume() when it drains.
        if (this.credit?.paused() === true) return;
        const got = await this.broker.claim({
          options: this.options,
          owner: this.id,
          limit: this.options.maxInFlight,
          enforceInFlight: true,
          ...(this.credit === undefined ? {} : { maxBytes: this.credit.budgetBytes() }),
        });
        if (this.closed) {
          // Claimed while closing: give them straight back rather than waiting for the deadline.
          if (got.length > 0) await this.broker.release(this.id);
          return;
        }
        for (const delivery of got) this.hand(delivery);
        // A full batch may mean more is ready.
        if (got.length > 0) this.again = true;
      } while (this.again && !this.closed);
    } catch (err) {
      this.logger.warn({ err }, 'claiming deliveries failed; retrying at the next poll');
    } finally {
      this.running = false;
    }
  }

  /** A live consumer keeps its group from expiring (a write at most once a minute). */
  private async keepGroup(): Promise<void> {
    if (Date.now() - this.touchedAt < Math.min(TOUCH_EVERY_MS, this.options.idleMs / 4)) return;
    this.touchedAt = Date.now();
    await this.broker.registerGroup(this.options);
  }

  private hand(delivery: BrokerDelivery): void {
    try {
      this.deliver(delivery);
    } catch (err) {
      this.logger.error({ err, deliveryId: delivery.deliveryId }, 'delivery callback threw; returning the delivery');
      this.nack(delivery.deliveryId, 0).catch((e: unknown) => this.logger.warn({ err: e }, 'nack after callback error failed'));
    }
  }
}
