// What one consumer knows about one assigned partition: the fetched messages not yet done, which
// of them are ready to hand out, and the commit point. Kafka commits one offset per partition, so
// the commit point is the lowest offset not yet acked ("everything below is done"); acks above a
// gap wait for the gap to close.
//
// The delivery ledger rides in the commit's metadata string: for the offsets at and above the
// commit point, how often each was delivered (0 = already acked). A consumer that takes the
// partition over (rebalance, crash, hot upgrade) reads it back, so attempt numbers keep counting
// across workers and acked-out-of-order messages are not redelivered. It is best effort: it is only
// as fresh as the last commit, and capped in size (Kafka's offset.metadata.max.bytes is 4096 by
// default), keeping the lowest offsets.
//
// Offsets are JavaScript numbers: exact up to 2^53, which no real partition reaches.
import type { KafkaMessage } from 'kafkajs';
import type { DecodedMessage } from './kafka-message.js';

export type EntryState = 'ready' | 'leased' | 'delayed' | 'dead-lettering';

/** Who holds a lease: a push subscriber (counted against its maxInFlight) or a pull. */
export interface LeaseHolder {
  inFlight: number;
}

export interface Entry {
  readonly partition: number;
  readonly offset: number;
  readonly record: KafkaMessage;
  decoded: DecodedMessage | undefined;
  /** Deliveries so far, including those the ledger says earlier owners made. */
  attempts: number;
  state: EntryState;
  deliveryId: string | undefined;
  holder: LeaseHolder | undefined;
  /** Ack deadline while leased, redelivery delay while delayed. */
  timer: NodeJS.Timeout | undefined;
}

export interface Commit {
  readonly offset: number;
  readonly ledger: string;
}

const LEDGER_VERSION = 'h1';
const MAX_LEDGER_CHARS = 3000;

/** Parses a ledger committed with `offset`; anything else (other clients' metadata) is empty. */
export function parseLedger(metadata: string | null | undefined, offset: number): Map<number, number> {
  const out = new Map<number, number>();
  if (!metadata) return out;
  const [version, base, body = ''] = metadata.split(';');
  if (version !== LEDGER_VERSION || Number(base) !== offset) return out;
  for (const item of body.split(',')) {
    const [d, n] = item.split('.');
    const delta = parseInt(d ?? '', 36);
    const attempts = Number(n);
    if (Number.isSafeInteger(delta) && delta >= 0 && Number.isSafeInteger(attempts) && attempts >= 0) out.set(offset + delta, attempts);
  }
  return out;
}

/** FIFO with O(1) shift (Array#shift copies once a queue is large). */
export class Queue<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class PartitionState {
  /** Next offset expected from the fetcher. */
  fetchedThrough: number;
  /** Fetched and not done, in offset order (offsets arrive ascending; Map keeps insertion order). */
  readonly outstanding = new Map<number, Entry>();
  /** Ready to hand out: fresh messages in offset order, redeliveries appended. */
  readonly ready = new Queue<Entry>();
  /** What Kafka holds for this group and partition as far as we know; undefined: nothing yet. */
  committed: Commit | undefined;
  /** Reconciled with Kafka in the current generation: may fetch, hand out and commit. */
  active = false;
  /** Something the commit (offset or ledger) depends on changed since the last commit attempt. */
  dirty = false;
  /** Acked offsets above the commit point (acked out of order), for the ledger. */
  private readonly doneAbove = new Set<number>();
  /** The previous owner's ledger for offsets not fetched yet. */
  private readonly prior: Map<number, number>;

  constructor(
    readonly partition: number,
    /** Distinguishes this state from an earlier one of the same partition in delivery ids. */
    readonly epoch: number,
    start: number,
    prior: Map<number, number> = new Map(),
  ) {
    this.fetchedThrough = start;
    this.prior = prior;
  }

  /** The offset to commit: everything below it is done. */
  frontier(): number {
    for (const offset of this.outstanding.keys()) return offset;
    return this.fetchedThrough;
  }

  /** Takes one fetched record; returns its entry, or undefined when it needs no delivery. */
  add(record: KafkaMessage): Entry | undefined {
    const offset = Number(record.offset);
    if (!Number.isSafeInteger(offset) || offset < this.fetchedThrough) return undefined;
    this.fetchedThrough = offset + 1;
    this.dirty = true;
    const prior = this.prior.get(offset);
    this.prior.delete(offset);
    if (prior === 0) {
      this.doneAbove.add(offset);
      return undefined;
    }
    const entry: Entry = {
      partition: this.partition,
      offset,
      record,
      decoded: undefined,
      attempts: prior ?? 0,
      state: 'ready',
      deliveryId: undefined,
      holder: undefined,
      timer: undefined,
    };
    this.outstanding.set(offset, entry);
    this.ready.push(entry);
    return entry;
  }

  /** The fetcher got past `next - 1` (control records and compacted gaps carry no message). */
  skipTo(next: number): void {
    if (Number.isSafeInteger(next) && next > this.fetchedThrough) {
      this.fetchedThrough = next;
      this.dirty = true;
    }
  }

  /** Acked or dead-lettered: no longer outstanding. */
  done(entry: Entry): void {
    if (this.outstanding.get(entry.offset) !== entry) return;
    this.outstanding.delete(entry.offset);
    if (entry.offset > this.frontier()) this.doneAbove.add(entry.offset);
    this.dirty = true;
  }

  /** Is `entry` still this partition's outstanding message (not acked, not dropped)? */
  holds(entry: Entry): boolean {
    return this.outstanding.get(entry.offset) === entry;
  }

  /** The ledger for the current frontier (see the header comment). */
  ledger(): string {
    const base = this.frontier();
    const items = new Map<number, number>();
    for (const offset of this.doneAbove) {
      if (offset < base) this.doneAbove.delete(offset);
      else items.set(offset, 0);
    }
    for (const e of this.outstanding.values()) if (e.attempts > 0) items.set(e.offset, e.attempts);
    for (const [offset, n] of this.prior) if (offset >= base) items.set(offset, n);
    const parts: string[] = [];
    let length = 0;
    for (const offset of [...items.keys()].sort((a, b) => a - b)) {
      const part = `${(offset - base).toString(36)}.${items.get(offset) ?? 0}`;
      length += part.length + 1;
      if (length > MAX_LEDGER_CHARS) break;
      parts.push(part);
    }
    return `${LEDGER_VERSION};${base};${parts.join(',')}`;
  }

  /** The commit this state wants, or undefined when Kafka already has it. */
  wantedCommit(): Commit | undefined {
    const offset = this.frontier();
    const ledger = this.ledger();
    if (this.committed?.offset === offset && this.committed.ledger === ledger) return undefined;
    return { offset, ledger };
  }
}
