// The local half of one group consumer: hands the messages its partitions fetched to this
// process's subscribers (round-robin, never more than each one's maxInFlight) and pulls, and keeps
// the leases: ack, nack (with delay), ack deadline, return on close, dead-letter after
// maxDeliveryAttempts. It knows nothing about kafkajs; the consumer feeds it records and is told
// (onChange) when commits or pause/resume decisions may have changed.
//
// Delivery ids are `<consumer nonce>:<partition epoch>:<partition>:<offset>:<attempt>`: unique in
// the group (the nonce is random per consumer instance, the epoch changes whenever this consumer
// takes a partition anew), and an id can only ever ack the delivery it names.
import type { Logger } from 'pino';
import { HearthError } from '../../errors/hearth-error.js';
import type { BrokerDelivery, SubscribeOptions } from '../pubsub-broker.js';
import { decodeRecord, type DecodedMessage } from './kafka-message.js';
import type { Entry, LeaseHolder, PartitionState } from './kafka-partition.js';

/** A partition stops fetching while this many of its messages are outstanding (memory bound). */
export const MAX_OUTSTANDING_PER_PARTITION = 2000;
/** … or while its commit point lags this far behind the fetch position (one slow message). */
export const MAX_UNCOMMITTED_WINDOW = 20_000;
const DEAD_LETTER_RETRY_MS = 1000;

/** A push subscriber as the dispatcher sees it. */
export interface PushTarget extends LeaseHolder {
  readonly options: SubscribeOptions;
  /** False until subscribe() has returned its handle, and after close. */
  readonly accepting: boolean;
  deliver(delivery: BrokerDelivery): void;
}

export interface DispatcherHooks {
  /** Something changed that may move a commit point or a pause decision. */
  onChange(): void;
  /** Produces the message to the dead-letter topic (or drops it when there is none). */
  deadLetter(entry: Entry, decoded: DecodedMessage, options: SubscribeOptions): Promise<void>;
}

interface ParsedId {
  readonly nonce: string;
  readonly epoch: number;
  readonly partition: number;
  readonly offset: number;
  readonly attempt: number;
}

export function parseDeliveryId(deliveryId: string): ParsedId | undefined {
  const parts = deliveryId.split(':');
  if (parts.length !== 5) return undefined;
  const [nonce = '', ...nums] = parts;
  const [epoch, partition, offset, attempt] = nums.map((n) => (/^\d{1,16}$/.test(n) ? Number(n) : NaN));
  if (epoch === undefined || partition === undefined || offset === undefined || attempt === undefined) return undefined;
  if ([epoch, partition, offset, attempt].some((n) => !Number.isSafeInteger(n))) return undefined;
  return { nonce, epoch, partition, offset, attempt };
}

export function unknownDelivery(group: string, deliveryId: string): HearthError {
  return new HearthError('HEARTH_ERR_UNKNOWN_DELIVERY', `no pending delivery "${deliveryId}" in group "${group}"`);
}

export class GroupDispatcher {
  readonly partitions = new Map<number, PartitionState>();
  /** The latest options a subscribe or pull brought: maxDeliveryAttempts and deadLetterTopic. */
  options: SubscribeOptions;
  private readonly targets: PushTarget[] = [];
  private readonly pullHolder: LeaseHolder = { inFlight: 0 };
  private readonly readyWaiters = new Set<() => void>();
  private nextTarget = 0;
  private nextPartition = 0;
  private dispatching = false;
  private again = false;
  private closed = false;

  constructor(
    private readonly nonce: string,
    options: SubscribeOptions,
    private readonly hooks: DispatcherHooks,
    private readonly logger: Logger,
  ) {
    this.options = options;
  }

  get group(): string {
    return this.options.group;
  }

  /** Leases held by pulls, which keep an otherwise idle consumer alive. */
  get pullLeases(): number {
    return this.pullHolder.inFlight;
  }

  addTarget(target: PushTarget): void {
    this.targets.push(target);
    this.options = target.options;
  }

  /** Removes a subscriber; its unacked deliveries become ready again for the others (or a later owner). */
  removeTarget(target: PushTarget): number {
    const i = this.targets.indexOf(target);
    if (i >= 0) this.targets.splice(i, 1);
    let returned = 0;
    for (const st of this.partitions.values()) {
      for (const e of st.outstanding.values()) {
        if (e.state === 'leased' && e.holder === target) {
          this.release(st, e);
          returned++;
        }
      }
    }
    this.dispatch();
    return returned;
  }

  get targetCount(): number {
    return this.targets.length;
  }

  /** Hands ready messages to subscribers with room; reentrant calls (an ack inside deliver) coalesce. */
  dispatch(): void {
    if (this.dispatching) {
      this.again = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.again = false;
        this.wakeReadyWaiters();
        for (;;) {
          const target = this.pickTarget();
          if (!target) break;
          const next = this.takeReady();
          if (!next) break;
          const delivery = this.lease(next.st, next.entry, target, target.options.ackDeadlineMs);
          if (delivery) this.hand(target, delivery);
        }
      } while (this.again && !this.closed);
    } finally {
      this.dispatching = false;
    }
    this.hooks.onChange();
  }

  /** Claims up to `max` ready messages for a pull, each leased for options.ackDeadlineMs. */
  take(max: number, options: SubscribeOptions, maxBytes = Infinity): BrokerDelivery[] {
    this.options = options;
    const out: BrokerDelivery[] = [];
    let bytes = 0;
    // Past maxBytes no more is taken (the first message always is).
    while (out.length < max && (out.length === 0 || bytes < maxBytes)) {
      const next = this.takeReady();
      if (!next) break;
      const delivery = this.lease(next.st, next.entry, this.pullHolder, options.ackDeadlineMs);
      if (delivery) {
        out.push(delivery);
        bytes += delivery.data.length;
      }
    }
    if (out.length > 0) this.hooks.onChange();
    return out;
  }

  /** Resolves when a message may have become ready, or after ms. */
  waitReady(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.readyWaiters.add(done);
    });
  }

  ack(deliveryId: string): void {
    const { st, entry } = this.leased(deliveryId);
    this.unlease(entry);
    st.done(entry);
    this.dispatch();
  }

  nack(deliveryId: string, delayMs: number): void {
    const { st, entry } = this.leased(deliveryId);
    this.unlease(entry);
    if (delayMs > 0) {
      entry.state = 'delayed';
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        if (st.holds(entry) && entry.state === 'delayed') this.makeReady(st, entry);
        this.dispatch();
      }, delayMs);
      entry.timer.unref();
    } else {
      this.makeReady(st, entry);
    }
    this.dispatch();
  }

  /** Forgets a partition (revoked, or taken over elsewhere): its deliveries can no longer be acked. */
  dropPartition(partition: number): void {
    const st = this.partitions.get(partition);
    if (!st) return;
    for (const e of st.outstanding.values()) this.unlease(e);
    st.outstanding.clear();
    st.ready.clear();
    this.partitions.delete(partition);
  }

  /** Every lease goes back to ready (attempts are kept for the ledger); used when the consumer stops. */
  releaseAll(): void {
    for (const st of this.partitions.values()) {
      for (const e of st.outstanding.values()) if (e.state === 'leased' || e.state === 'delayed') this.release(st, e);
    }
  }

  /** Drops everything; timers stop. */
  close(): void {
    this.closed = true;
    for (const p of [...this.partitions.keys()]) this.dropPartition(p);
    this.targets.length = 0;
    this.wakeReadyWaiters();
  }

  /** Should this partition stop fetching for now? */
  wantsPause(st: PartitionState): boolean {
    return (
      st.ready.length > 0 ||
      st.outstanding.size >= MAX_OUTSTANDING_PER_PARTITION ||
      st.fetchedThrough - st.frontier() >= MAX_UNCOMMITTED_WINDOW
    );
  }

  private leased(deliveryId: string): { st: PartitionState; entry: Entry } {
    const id = parseDeliveryId(deliveryId);
    const st = id && id.nonce === this.nonce ? this.partitions.get(id.partition) : undefined;
    const entry = id && st?.epoch === id.epoch ? st.outstanding.get(id.offset) : undefined;
    if (!st || !entry || entry.state !== 'leased' || entry.deliveryId !== deliveryId) {
      throw unknownDelivery(this.group, deliveryId);
    }
    return { st, entry };
  }

  private pickTarget(): PushTarget | undefined {
    const n = this.targets.length;
    for (let i = 0; i < n; i++) {
      const t = this.targets[(this.nextTarget + i) % n];
      if (t?.accepting && t.inFlight < t.options.maxInFlight) {
        this.nextTarget = (this.nextTarget + i + 1) % n;
        return t;
      }
    }
    return undefined;
  }

  /** The next ready message, partitions taken in turn so one busy partition cannot starve the rest. */
  private takeReady(): { st: PartitionState; entry: Entry } | undefined {
    let n = 0;
    for (const st of this.partitions.values()) if (st.active && st.ready.length > 0) n++;
    if (n === 0) return undefined;
    let k = this.nextPartition++ % n;
    for (const st of this.partitions.values()) {
      if (!st.active || st.ready.length === 0 || k-- > 0) continue;
      const entry = st.ready.shift();
      return entry ? { st, entry } : undefined;
    }
    return undefined;
  }

  /** Leases `entry` to `holder`, or dead-letters it when its attempts are used up. */
  private lease(st: PartitionState, entry: Entry, holder: LeaseHolder, ackDeadlineMs: number): BrokerDelivery | undefined {
    const decoded = (entry.decoded ??= decodeRecord(entry.record, this.options.topic, entry.partition));
    if (entry.attempts >= this.options.maxDeliveryAttempts) {
      this.deadLetter(st, entry, decoded);
      return undefined;
    }
    entry.attempts++;
    st.dirty = true; // the ledger records the attempt
    entry.state = 'leased';
    entry.holder = holder;
    holder.inFlight++;
    const deliveryId = `${this.nonce}:${st.epoch}:${st.partition}:${entry.offset}:${entry.attempts}`;
    entry.deliveryId = deliveryId;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (st.holds(entry) && entry.deliveryId === deliveryId && entry.state === 'leased') {
        this.release(st, entry);
        this.dispatch();
      }
    }, ackDeadlineMs);
    entry.timer.unref();
    return {
      deliveryId,
      messageId: decoded.messageId,
      topic: this.options.topic,
      data: decoded.data,
      contentType: decoded.contentType,
      metadata: decoded.metadata,
      attempt: entry.attempts,
    };
  }

  private hand(target: PushTarget, delivery: BrokerDelivery): void {
    try {
      target.deliver(delivery);
    } catch (err) {
      this.logger.error({ err, deliveryId: delivery.deliveryId }, 'delivery callback threw; returning the delivery');
      try {
        this.nack(delivery.deliveryId, 0);
      } catch {
        // Already acked or released by the callback before it threw.
      }
    }
  }

  private deadLetter(st: PartitionState, entry: Entry, decoded: DecodedMessage): void {
    entry.state = 'dead-lettering';
    const options = this.options;
    this.hooks.deadLetter(entry, decoded, options).then(
      () => {
        st.done(entry);
        this.dispatch();
      },
      (err: unknown) => {
        this.logger.warn({ err, group: options.group, offset: entry.offset }, 'dead-lettering failed; retrying');
        entry.timer = setTimeout(() => {
          entry.timer = undefined;
          if (st.holds(entry)) this.makeReady(st, entry);
          this.dispatch();
        }, DEAD_LETTER_RETRY_MS);
        entry.timer.unref();
      },
    );
  }

  /** Ends a lease (or a pending redelivery delay) without deciding what happens next. */
  private unlease(entry: Entry): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (entry.state === 'leased' && entry.holder) entry.holder.inFlight--;
    entry.holder = undefined;
    entry.deliveryId = undefined;
  }

  private release(st: PartitionState, entry: Entry): void {
    this.unlease(entry);
    this.makeReady(st, entry);
  }

  private makeReady(st: PartitionState, entry: Entry): void {
    entry.state = 'ready';
    st.ready.push(entry);
  }

  private wakeReadyWaiters(): void {
    if (this.readyWaiters.size === 0) return;
    let any = this.closed;
    for (const st of this.partitions.values()) any ||= st.active && st.ready.length > 0;
    if (!any) return;
    const waiters = [...this.readyWaiters];
    this.readyWaiters.clear();
    for (const w of waiters) w();
  }
}
