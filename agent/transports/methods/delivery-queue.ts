// The deliveries of one subscription stream on their way to the app, shared by the gRPC and wire
// Subscribe streams. While the transport cannot take more (its socket is over its high-water
// mark), deliveries wait here, counted in bytes against the stream's budget
// (budgets.bufferedBytesPerStream) and the app's (budgets.bufferedBytes, all its streams in this
// worker). Over either, the queue tells the broker to stop claiming (DeliveryCredit.paused) and
// asks it to resume once the transport drained: an app that never reads holds at most its budget
// (plus one message) of this worker's memory, not every delivery its maxInFlight allows.
//
// A delivery handed to the transport counts too until the transport says it went out (its write
// callback): gRPC's server stream is in object mode, so its write() reports backpressure only after
// 16 messages, and http2 holds more while the client's flow-control window is shut — bytes that
// would otherwise escape both budgets.
//
// Deliveries older than the ack deadline are dropped from the queue: the broker has taken them
// back already (dropping one early only delays it; it is unacked).
import type { Logger } from 'pino';
import type { AppBudgets } from '../../apps/app-budgets.js';
import type { Delivery } from '../../building-blocks/runtime-api.js';
import type { DeliveryCredit, Resumable } from '../../components/pubsub-broker.js';
import type { AppConfig } from '../../config/load-config.js';

/** What a queued delivery costs beyond its payload (ids, topic, metadata): a fair flat guess. */
const OVERHEAD_BYTES = 256;
/** The schema's default ack deadline, used when the app sets none. */
const DEFAULT_ACK_DEADLINE_MS = 30_000;

interface Queued {
  readonly delivery: Delivery;
  readonly at: number;
  readonly bytes: number;
}

export interface DeliveryQueueOptions {
  readonly app: AppConfig;
  readonly budgets?: AppBudgets | undefined;
  /**
   * Hands one delivery to the transport; false when it is over its high-water mark. `sent` is
   * called once the transport no longer holds it (written out, or the stream gone).
   */
  readonly write: (delivery: Delivery, sent: () => void) => boolean;
  /** Calls `listener` once, when the transport can take more. */
  readonly onWritable: (listener: () => void) => void;
  readonly logger: Logger;
}

export class DeliveryQueue {
  readonly #o: DeliveryQueueOptions;
  readonly #queue: Queued[] = [];
  #bytes = 0;
  #ready = false;
  #blocked = false;
  #closed = false;
  #ackDeadlineMs = DEFAULT_ACK_DEADLINE_MS;
  #subscription: Resumable | undefined;

  constructor(options: DeliveryQueueOptions) {
    this.#o = options;
  }

  /** What the broker asks before claiming for this stream. */
  readonly credit: DeliveryCredit = {
    paused: () => {
      if (this.#bytes >= this.#streamBudget()) return true; // this stream's own drain resumes it
      if (this.#appBytes() < this.#o.app.budgets.bufferedBytes) return false;
      // Over the app's budget because of other streams: their drain must resume this one.
      this.#o.budgets?.whenBufferedDrops(this.#o.app.id, this.#appRoom);
      return true;
    },
    budgetBytes: () => Math.max(0, Math.min(this.#streamBudget() - this.#bytes, this.#o.app.budgets.bufferedBytes - this.#appBytes())),
  };

  readonly #appRoom = (): void => {
    if (!this.#closed && this.#ready && !this.#blocked && !this.credit.paused()) this.#subscription?.resume();
  };

  /** The subscription the broker made, told to resume when the queue drained. */
  attach(subscription: Resumable, ackDeadlineMs: number | undefined): void {
    this.#subscription = subscription;
    if (ackDeadlineMs !== undefined && ackDeadlineMs > 0) this.#ackDeadlineMs = ackDeadlineMs;
  }

  /** The stream's `ready` went out: queued deliveries may follow it. */
  start(): void {
    this.#ready = true;
    if (!this.#blocked) this.#flush();
  }

  /** The broker's callback. */
  deliver(delivery: Delivery): void {
    if (this.#closed) return; // the handle is closing: the broker takes it back
    if (this.#ready && !this.#blocked && this.#queue.length === 0) {
      this.#write(delivery);
      return;
    }
    const bytes = delivery.data.length + OVERHEAD_BYTES;
    this.#queue.push({ delivery, at: Date.now(), bytes });
    this.#add(bytes);
    this.#prune();
  }

  /** Drops what is queued (the broker takes it back when the handle closes). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#add(-this.#bytes);
  }

  #write(delivery: Delivery): void {
    const bytes = delivery.data.length + OVERHEAD_BYTES;
    this.#add(bytes);
    let inTransit = true;
    const sent = (): void => {
      if (!inTransit) return;
      inTransit = false;
      if (this.#closed) return; // close() let go of every byte already
      const wasPaused = this.credit.paused();
      this.#add(-bytes);
      if (wasPaused && !this.#blocked && this.#ready && !this.credit.paused()) this.#subscription?.resume();
    };
    if (this.#o.write(delivery, sent)) return;
    if (this.#blocked) return;
    this.#blocked = true;
    this.#o.logger.debug('subscriber is not keeping up: deliveries wait for drain');
    this.#o.onWritable(() => this.#flush());
  }

  readonly #flush = (): void => {
    if (this.#closed || !this.#ready) return;
    this.#blocked = false;
    this.#prune();
    while (!this.#blocked) {
      const q = this.#queue.shift();
      if (q === undefined) break;
      this.#add(-q.bytes);
      this.#write(q.delivery);
    }
    // Room again: the broker may claim for this stream.
    if (!this.#blocked && !this.credit.paused()) this.#subscription?.resume();
  };

  #prune(): void {
    const cutoff = Date.now() - this.#ackDeadlineMs;
    while (this.#queue.length > 0 && (this.#queue[0]?.at ?? 0) < cutoff) {
      const q = this.#queue.shift();
      if (q !== undefined) this.#add(-q.bytes);
    }
  }

  #add(delta: number): void {
    this.#bytes += delta;
    this.#o.budgets?.buffered(this.#o.app.id, delta);
  }

  #streamBudget(): number {
    return this.#o.app.budgets.bufferedBytesPerStream;
  }

  #appBytes(): number {
    return this.#o.budgets?.held(this.#o.app.id).bufferedBytes ?? this.#bytes;
  }
}
