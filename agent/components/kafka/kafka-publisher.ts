// The component's one kafkajs producer. Publishes that arrive while a request is in flight are
// sent together in the next request (no added latency when idle, one round trip per batch under
// load; the idempotent producer allows one request in flight per broker). Every publish is bounded
// by publishTimeoutMs; once a send fails because Kafka is unreachable, publishes fail at once with
// HEARTH_ERR_BACKEND_UNAVAILABLE until a background probe reaches the cluster again.
//
// Idempotence with short retries: kafkajs rolls a partition's sequence number back when a produce
// request fails, so after a request that Kafka did write but never answered, the next (different)
// batch would reuse its sequence and be dropped by the broker as a duplicate. So a producer whose
// send failed is replaced: the new one gets a new producer id on connect and its own sequences.
import type { Kafka, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { HearthError } from '../../errors/hearth-error.js';
import type { ComponentHealth } from '../component.js';
import { kafkaErrorText, toKafkaError } from './kafka-errors.js';
import { CLIENT_RETRY, type KafkaOptions } from './kafka-options.js';

const MAX_BATCH_MESSAGES = 500;
const MAX_QUEUED = 10_000;
const PROBE_MIN_MS = 250;
const PROBE_MAX_MS = 2000;

interface Pending {
  readonly topic: string;
  readonly message: Message;
  readonly resolve: () => void;
  readonly reject: (err: HearthError) => void;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** Errors that mean the cluster cannot be reached (rather than a bad message or topic). */
const OUTAGE = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSLockTimeout',
]);

function isOutage(err: unknown): boolean {
  let e = err as { name?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let i = 0; i < 5 && e; i++) {
    if (typeof e.name === 'string' && OUTAGE.has(e.name)) return true;
    if (typeof e.message === 'string' && /producer is disconnected|Connection error|ECONNREFUSED/i.test(e.message)) return true;
    e = e.cause as typeof e;
  }
  return false;
}

export class KafkaPublisher {
  private producer: Producer;
  private readonly queue: Pending[] = [];
  private connected = false;
  /** Why Kafka is considered unreachable; undefined while it is reachable. */
  private down: string | undefined = 'not connected yet';
  private sending: Promise<void> | undefined;
  private recovering: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: KafkaOptions,
    /** Reaches the cluster without producing (a metadata request). */
    private readonly probe: () => Promise<void>,
    private readonly name: string,
    private readonly logger: Logger,
  ) {
    this.producer = this.createProducer();
  }

  /** Connects in the background; waits for the first attempt only up to `waitMs`. */
  async start(waitMs: number): Promise<void> {
    const first = this.recover();
    await Promise.race([first, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
  }

  publish(topic: string, message: Message): Promise<void> {
    if (this.closed) {
      return Promise.reject(new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `component "${this.name}" is closed`));
    }
    if (this.down !== undefined) {
      this.recover().catch(() => undefined);
      return Promise.reject(new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `component "${this.name}": Kafka is unavailable (${this.down})`));
    }
    if (this.queue.length >= MAX_QUEUED) {
      return Promise.reject(new HearthError('HEARTH_ERR_RESOURCE_EXHAUSTED', `component "${this.name}": too many publishes waiting for Kafka`));
    }
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = { topic, message, resolve, reject, settled: false, timer: undefined };
      pending.timer = setTimeout(() => {
        const i = this.queue.indexOf(pending);
        if (i >= 0) this.queue.splice(i, 1);
        this.settle(
          pending,
          new HearthError('HEARTH_ERR_TIMEOUT', `component "${this.name}": publish not acknowledged by Kafka within ${this.options.publishTimeoutMs} ms`),
        );
      }, this.options.publishTimeoutMs);
      this.queue.push(pending);
      this.sending ??= this.drain();
    });
  }

  health(): ComponentHealth {
    if (this.closed) return { healthy: false, detail: 'closed' };
    if (this.down !== undefined) return { healthy: false, detail: `producer cannot reach Kafka: ${this.down}` };
    return { healthy: true };
  }

  /** Lets queued publishes finish (bounded), then disconnects. */
  async close(waitMs: number): Promise<void> {
    this.closed = true;
    const deadline = new Promise((resolve) => setTimeout(resolve, waitMs).unref());
    await Promise.race([this.sending ?? Promise.resolve(), deadline]);
    this.failQueued('closed');
    // A reconnect still in progress could otherwise finish after the disconnect and leave sockets open.
    await Promise.race([this.recovering ?? Promise.resolve(), deadline]);
    await Promise.race([this.producer.disconnect().catch(() => undefined), deadline]);
  }

  destroy(): void {
    this.closed = true;
    this.failQueued('destroyed');
    this.producer.disconnect().catch(() => undefined);
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.down === undefined) {
        const batch = this.queue.splice(0, MAX_BATCH_MESSAGES);
        await this.send(batch);
      }
      // Kafka went down mid-queue: what is left fails fast like new publishes.
      if (this.down !== undefined) this.failQueued(`Kafka is unavailable (${this.down})`);
    } finally {
      this.sending = undefined;
    }
  }

  private async send(batch: Pending[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const p of batch) {
      const list = byTopic.get(p.topic) ?? [];
      list.push(p.message);
      byTopic.set(p.topic, list);
    }
    try {
      if (!this.connected) {
        await this.producer.connect();
        this.connected = true;
      }
      await this.producer.sendBatch({
        acks: this.options.acks,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      for (const p of batch) this.settle(p, undefined);
    } catch (err) {
      const error = toKafkaError(err, this.name, 'publish');
      for (const p of batch) this.settle(p, error);
      if (this.options.idempotent) this.replaceProducer();
      if (isOutage(err)) this.markDown(kafkaErrorText(err));
    }
  }

  private createProducer(): Producer {
    return this.kafka.producer({
      idempotent: this.options.idempotent,
      // kafkajs requires one request in flight for the idempotent producer's ordering guarantee.
      maxInFlightRequests: this.options.idempotent ? 1 : undefined,
      allowAutoTopicCreation: this.options.allowAutoTopicCreation,
      retry: CLIENT_RETRY,
    });
  }

  /** A fresh producer id and sequences (see the header); the old one may still be retrying. */
  private replaceProducer(): void {
    const old = this.producer;
    this.producer = this.createProducer();
    this.connected = false;
    old.disconnect().catch((err: unknown) => this.logger.debug({ err }, 'disconnecting the replaced producer failed'));
  }

  private settle(p: Pending, err: HearthError | undefined): void {
    if (p.settled) return;
    p.settled = true;
    if (p.timer) clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve();
  }

  private failQueued(why: string): void {
    const error = new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `component "${this.name}": ${why}`);
    for (const p of this.queue.splice(0)) this.settle(p, error);
  }

  private markDown(detail: string): void {
    if (this.down === undefined) this.logger.warn({ detail }, 'Kafka unreachable; publishes fail fast until it is back');
    this.down = detail;
    this.recover().catch(() => undefined);
  }

  /** Connects (first time) or probes the cluster until it answers; one loop at a time. */
  private recover(): Promise<void> {
    this.recovering ??= (async () => {
      let wait = PROBE_MIN_MS;
      try {
        while (!this.closed) {
          try {
            if (!this.connected) {
              await this.producer.connect();
              this.connected = true;
            } else {
              await this.probe();
            }
            if (this.down !== 'not connected yet') this.logger.warn('Kafka reachable again');
            this.down = undefined;
            return;
          } catch (err) {
            this.down = kafkaErrorText(err);
          }
          await new Promise((resolve) => setTimeout(resolve, wait).unref());
          wait = Math.min(wait * 2, PROBE_MAX_MS);
        }
      } finally {
        this.recovering = undefined;
      }
    })();
    return this.recovering;
  }
}
