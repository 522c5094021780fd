// pubsub.sqlite: a durable log in the shared SQLite file. Every process (workers of every
// generation) publishes and consumes through the same tables, so consumers claim deliveries with
// leases inside IMMEDIATE transactions and poll for work published elsewhere; a publish in this
// process wakes local consumers at once.
//
// Groups are an app's to hold within its budget: a new group past `maxGroups` for the app is
// refused, and a group nobody consumed for its idle time (touched at most once a minute by pulls
// and live consumers) is deleted with its deliveries by the sweep, so an abandoned subscription
// pins nothing and a publish fans out only to groups someone uses. A consumer claims within the
// byte budget its subscriber gives it (at least one message), and nothing while it is paused.
import { randomUUID } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { HearthError } from '../../errors/hearth-error.js';
import type { ComponentContext } from '../component.js';
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
import { SqliteComponent, metadataInt } from './sqlite-database.js';
import { SqliteConsumer } from './sqlite-consumer.js';

/**
 * `<message rowid>.<attempt>`: the attempt makes a nack from a holder whose lease expired (and
 * whose message was meanwhile handed to someone else) miss, instead of resetting the new holder's
 * lease. A bare rowid (the format before the attempt was added, held by a client across an
 * upgrade) still acks and nacks without that check.
 */
const DELIVERY_ID = /^([1-9][0-9]{0,15})(?:\.([1-9][0-9]{0,9}))?$/;
const GC_BATCH = 1000;
/** Expired groups looked at per write, and delivery rows deleted per write (over all of them). */
const EXPIRE_BATCH = 100;
const EXPIRE_DELETE_BATCH = 1000;
/** Writes of expiry work per sweep (the rest waits for the next sweep), the event loop free between them. */
const EXPIRE_WRITES_PER_SWEEP = 50;
/** A group's last_seen_at is written at most this often (a pull must not write on every call). */
const TOUCH_EVERY_MS = 60_000;
const DEAD_LETTER_BATCH = 100;

interface MessageRow {
  topic: string;
  message_id: string;
  data: Buffer;
  content_type: string;
  metadata: string;
  msg_key: string | null;
}

interface Statements {
  insertMessage: Statement<[string, string, string, Buffer, string, string, string | null, number]>;
  fanOut: Statement<[number | bigint, number, string, string]>;
  groupInfo: Statement<[string, string, string], { durable: number; last_seen_at: number | null }>;
  countGroups: Statement<[string, string], { n: number }>;
  insertGroup: Statement<{ component: string; name: string; topic: string; app: string; durable: number; now: number; idle: number }>;
  touchGroup: Statement<{ component: string; name: string; topic: string; durable: number; now: number; idle: number }>;
  expiredGroups: Statement<[string, number, number], { name: string; topic: string; expiring: number }>;
  markExpiring: Statement<[string, string, string]>;
  deleteGroup: Statement<[string, string, string]>;
  deleteGroupDeliveries: Statement<{ component: string; group: string; topic: string; limit: number }>;
  anyReady: Statement<[string, string, string, number], { one: number }>;
  inFlight: Statement<[string, number], { n: number }>;
  exhausted: Statement<[string, string, string, number, number, number], { message_rowid: number; attempts: number }>;
  candidates: Statement<
    { component: string; group: string; topic: string; now: number; max: number; limit: number },
    { message_rowid: number; bytes: number }
  >;
  lease: Statement<{ component: string; group: string; rowid: number; owner: string; until: number }, { attempts: number }>;
  message: Statement<[number], MessageRow>;
  ack: Statement<[string, string, number]>;
  nack: Statement<[number, string, string, number, number | null, number | null]>;
  release: Statement<[number, string]>;
  gc: Statement<[string, number, number]>;
}

/** What a claim needs to know; SubscribeOptions plus who holds the lease. */
export interface ClaimRequest {
  readonly options: SubscribeOptions;
  readonly owner: string;
  /** Most deliveries to claim now. */
  readonly limit: number;
  /** Count this owner's unexpired leases against options.maxInFlight. */
  readonly enforceInFlight: boolean;
  /** Message bytes to claim at most (at least one message is claimed when any is ready). */
  readonly maxBytes?: number;
}

export class SqlitePubSubBroker extends SqliteComponent<Statements> implements PubSubBroker {
  private readonly pollIntervalMs: number;
  private readonly retentionMs: number;
  private readonly consumers = new Set<SqliteConsumer>();
  /** Pending pull() waits, woken by a local publish/nack or by close. */
  private readonly waiters = new Set<() => void>();
  /** An expiry pass is running (a sweep that finds one still going leaves the expiry to it). */
  #expiring = false;

  constructor(ctx: ComponentContext) {
    super(ctx, metadataInt(ctx, 'gcIntervalMs', 60_000));
    this.pollIntervalMs = metadataInt(ctx, 'pollIntervalMs', 25);
    this.retentionMs = metadataInt(ctx, 'retentionSeconds', 3600) * 1000;
  }

  protected override prepare(db: Database): Statements {
    return {
      insertMessage: db.prepare(
        `INSERT INTO pubsub_messages (component, topic, message_id, data, content_type, metadata, msg_key, published_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      fanOut: db.prepare(
        `INSERT INTO pubsub_deliveries (component, group_name, message_rowid, topic, attempts, available_at)
         SELECT component, name, ?, topic, 0, ? FROM pubsub_groups WHERE component = ? AND topic = ? AND expiring = 0`,
      ),
      groupInfo: db.prepare('SELECT durable, last_seen_at FROM pubsub_groups WHERE component = ? AND name = ? AND topic = ?'),
      countGroups: db.prepare('SELECT count(*) AS n FROM pubsub_groups WHERE component = ? AND app = ? AND expiring = 0'),
      insertGroup: db.prepare(
        `INSERT INTO pubsub_groups (component, name, topic, created_at, app, durable, last_seen_at, idle_ms)
         VALUES (@component, @name, @topic, @now, @app, @durable, @now, @idle)`,
      ),
      touchGroup: db.prepare(
        `UPDATE pubsub_groups SET last_seen_at = @now, durable = max(durable, @durable), idle_ms = max(coalesce(idle_ms, 0), @idle), expiring = 0
         WHERE component = @component AND name = @name AND topic = @topic`,
      ),
      expiredGroups: db.prepare(
        `SELECT name, topic, expiring FROM pubsub_groups
         WHERE component = ? AND (expiring = 1 OR (last_seen_at IS NOT NULL AND idle_ms IS NOT NULL AND last_seen_at + idle_ms < ?)) LIMIT ?`,
      ),
      markExpiring: db.prepare('UPDATE pubsub_groups SET expiring = 1 WHERE component = ? AND name = ? AND topic = ?'),
      deleteGroup: db.prepare('DELETE FROM pubsub_groups WHERE component = ? AND name = ? AND topic = ?'),
      deleteGroupDeliveries: db.prepare(
        `DELETE FROM pubsub_deliveries WHERE component = @component AND group_name = @group AND message_rowid IN
           (SELECT message_rowid FROM pubsub_deliveries WHERE component = @component AND group_name = @group AND topic = @topic LIMIT @limit)`,
      ),
      anyReady: db.prepare(
        `SELECT 1 AS one FROM pubsub_deliveries
         WHERE component = ? AND group_name = ? AND topic = ? AND available_at <= ? LIMIT 1`,
      ),
      inFlight: db.prepare('SELECT count(*) AS n FROM pubsub_deliveries WHERE lease_owner = ? AND available_at > ?'),
      exhausted: db.prepare(
        `SELECT message_rowid, attempts FROM pubsub_deliveries
         WHERE component = ? AND group_name = ? AND topic = ? AND available_at <= ? AND attempts >= ? LIMIT ?`,
      ),
      candidates: db.prepare(
        `SELECT d.message_rowid, length(m.data) AS bytes FROM pubsub_deliveries d JOIN pubsub_messages m ON m.id = d.message_rowid
         WHERE d.component = @component AND d.group_name = @group AND d.topic = @topic
           AND d.available_at <= @now AND d.attempts < @max
         ORDER BY d.available_at, d.message_rowid LIMIT @limit`,
      ),
      lease: db.prepare(
        `UPDATE pubsub_deliveries SET attempts = attempts + 1, lease_owner = @owner, available_at = @until
         WHERE component = @component AND group_name = @group AND message_rowid = @rowid
         RETURNING attempts`,
      ),
      message: db.prepare(
        'SELECT topic, message_id, data, content_type, metadata, msg_key FROM pubsub_messages WHERE id = ?',
      ),
      ack: db.prepare('DELETE FROM pubsub_deliveries WHERE component = ? AND group_name = ? AND message_rowid = ?'),
      nack: db.prepare(
        `UPDATE pubsub_deliveries SET lease_owner = NULL, available_at = ?
         WHERE component = ? AND group_name = ? AND message_rowid = ? AND (? IS NULL OR attempts = ?)`,
      ),
      release: db.prepare('UPDATE pubsub_deliveries SET lease_owner = NULL, available_at = ? WHERE lease_owner = ?'),
      gc: db.prepare(
        `DELETE FROM pubsub_messages WHERE id IN (
           SELECT m.id FROM pubsub_messages m
           WHERE m.component = ? AND m.published_at < ?
             AND NOT EXISTS (SELECT 1 FROM pubsub_deliveries d WHERE d.message_rowid = m.id)
           LIMIT ?)`,
      ),
    };
  }

  async publish(message: PublishMessage): Promise<string> {
    const st = this.st;
    const messageId = randomUUID();
    await this.sqlite.write(() => this.insert(st, message, messageId, Date.now()));
    this.wake(message.topic);
    return messageId;
  }

  async subscribe(options: SubscribeOptions, deliver: (delivery: BrokerDelivery) => void, credit?: DeliveryCredit): Promise<BrokerSubscription> {
    validateSubscribeOptions(options);
    await this.registerGroup(options);
    const consumer = new SqliteConsumer(this, options, deliver, this.pollIntervalMs, this.logger, credit);
    this.consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  async pull(options: SubscribeOptions, max: number, waitMs: number, maxBytes?: number): Promise<BrokerDelivery[]> {
    validateSubscribeOptions(options);
    await this.registerGroup(options);
    const limit = Math.min(Math.floor(max), options.maxInFlight);
    if (!(limit > 0)) return [];
    // Each pull is its own consumer: its leases are acked/nacked through the group later.
    const request: ClaimRequest = { options, owner: `pull-${randomUUID()}`, limit, enforceInFlight: false, ...(maxBytes === undefined ? {} : { maxBytes }) };
    const deadline = Date.now() + Math.max(0, waitMs);
    for (;;) {
      if (!this.started) return [];
      const got = await this.claim(request);
      const left = deadline - Date.now();
      if (got.length > 0 || left <= 0) return got;
      await this.waitForWake(Math.min(this.pollIntervalMs, left));
    }
  }

  async ack(group: string, deliveryId: string): Promise<void> {
    const st = this.st;
    // A late ack from an earlier attempt still settles the message: it was processed.
    const { rowid } = parseDeliveryId(group, deliveryId);
    const changes = await this.sqlite.write(() => st.ack.run(this.name, group, rowid).changes);
    if (changes === 0) throw unknownDelivery(group, deliveryId);
    this.wakeGroup(group);
  }

  async nack(group: string, deliveryId: string, delayMs: number): Promise<void> {
    const st = this.st;
    const { rowid, attempt } = parseDeliveryId(group, deliveryId);
    const availableAt = Date.now() + Math.max(0, delayMs);
    const changes = await this.sqlite.write(() => st.nack.run(availableAt, this.name, group, rowid, attempt, attempt).changes);
    if (changes === 0) throw unknownDelivery(group, deliveryId);
    this.wakeGroup(group);
  }

  /**
   * Claims ready deliveries for one consumer in one IMMEDIATE transaction: first moves exhausted
   * ones to the dead-letter topic, then leases up to the limit (attempts + 1, lease until now +
   * ackDeadlineMs). Used by SqliteConsumer and pull().
   */
  async claim(request: ClaimRequest): Promise<BrokerDelivery[]> {
    const st = this.st;
    const { options, owner } = request;
    // Cheap read first: an idle poll must not take the write lock every few milliseconds.
    const worth = await this.sqlite.read(() => {
      const now = Date.now();
      if (!st.anyReady.get(this.name, options.group, options.topic, now)) return false;
      return !request.enforceInFlight || (st.inFlight.get(owner, now)?.n ?? 0) < options.maxInFlight;
    });
    if (!worth) return [];
    let deadLettered = false;
    const deliveries = await this.sqlite.write(() => {
      const now = Date.now();
      let limit = request.limit;
      if (request.enforceInFlight) {
        limit = Math.min(limit, options.maxInFlight - (st.inFlight.get(owner, now)?.n ?? 0));
      }
      deadLettered = this.deadLetter(st, options, now);
      if (limit <= 0) return [];
      const component = this.name;
      const group = options.group;
      const candidates = st.candidates.all({ component, group, topic: options.topic, now, max: options.maxDeliveryAttempts, limit });
      // Within the subscriber's byte budget, but never nothing: one message always fits.
      const budget = request.maxBytes ?? Number.POSITIVE_INFINITY;
      const claimed: { message_rowid: number; attempts: number }[] = [];
      let bytes = 0;
      for (const c of candidates) {
        if (claimed.length > 0 && bytes + c.bytes > budget) break;
        const leased = st.lease.get({ component, group, rowid: c.message_rowid, owner, until: now + options.ackDeadlineMs });
        if (leased === undefined) continue;
        claimed.push({ message_rowid: c.message_rowid, attempts: leased.attempts });
        bytes += c.bytes;
      }
      claimed.sort((a, b) => a.message_rowid - b.message_rowid);
      const out: BrokerDelivery[] = [];
      for (const row of claimed) {
        const msg = st.message.get(row.message_rowid);
        if (!msg) {
          // Cannot happen while deliveries reference live messages; drop the orphan row.
          st.ack.run(this.name, options.group, row.message_rowid);
          continue;
        }
        out.push({
          deliveryId: `${row.message_rowid}.${row.attempts}`,
          messageId: msg.message_id,
          topic: msg.topic,
          data: msg.data,
          contentType: msg.content_type,
          metadata: parseMetadata(msg.metadata),
          attempt: row.attempts,
        });
      }
      return out;
    });
    if (deadLettered && options.deadLetterTopic) this.wake(options.deadLetterTopic);
    return deliveries;
  }

  /** Returns every delivery leased to `owner` to the group, available at once. */
  async release(owner: string): Promise<number> {
    const st = this.st;
    const changes = await this.sqlite.write(() => st.release.run(Date.now(), owner).changes);
    if (changes > 0) this.wakeAll();
    return changes;
  }

  /** Called by a consumer once closed. */
  forget(consumer: SqliteConsumer): void {
    this.consumers.delete(consumer);
  }

  protected override async sweep(): Promise<void> {
    const st = this.st;
    // Expired groups are emptied at most EXPIRE_DELETE_BATCH rows per write: however many
    // deliveries an abandoned subscription piled up, no write holds the lock (or this worker's
    // event loop) for long.
    if (this.#expiring) return; // the last sweep's expiry work is still going
    this.#expiring = true;
    try {
      await this.#expire(st);
    } finally {
      this.#expiring = false;
    }
    const removed = await this.sqlite.write(() => st.gc.run(this.name, Date.now() - this.retentionMs, GC_BATCH).changes);
    if (removed > 0) this.logger.debug({ removed }, 'delivered messages garbage-collected');
  }

  async #expire(st: Statements): Promise<void> {
    let deliveries = 0;
    for (let i = 0; i < EXPIRE_WRITES_PER_SWEEP && this.started; i++) {
      const batch = await this.sqlite.write(() => {
        const groups = st.expiredGroups.all(this.name, Date.now(), EXPIRE_BATCH);
        let left = EXPIRE_DELETE_BATCH;
        const marked: { name: string; topic: string }[] = [];
        for (const g of groups) {
          if (g.expiring === 0) {
            st.markExpiring.run(this.name, g.name, g.topic);
            marked.push(g);
          }
          if (left <= 0) continue;
          const removed = st.deleteGroupDeliveries.run({ component: this.name, group: g.name, topic: g.topic, limit: left }).changes;
          left -= removed;
          if (left > 0) st.deleteGroup.run(this.name, g.name, g.topic); // nothing of it is left
        }
        return { marked, removed: EXPIRE_DELETE_BATCH - left, more: left <= 0 || groups.length === EXPIRE_BATCH };
      });
      for (const g of batch.marked) this.logger.info({ group: g.name, topic: g.topic }, 'subscription expired: nobody consumed it for its idle time');
      deliveries += batch.removed;
      if (!batch.more) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (deliveries > 0) this.logger.info({ deliveries }, 'deliveries of expired subscriptions deleted');
  }

  protected override async beforeClose(): Promise<void> {
    const results = await Promise.allSettled([...this.consumers].map((c) => c.close()));
    for (const r of results) {
      if (r.status === 'rejected') this.logger.warn({ err: r.reason as unknown }, 'closing a subscription failed');
    }
    this.wakeAll();
  }

  protected override beforeDestroy(): void {
    const st = this.st;
    for (const consumer of [...this.consumers]) {
      consumer.stop();
      // Synchronous: destroy cannot wait, but unacked work should still go back to the group.
      this.sqlite.writeSync(() => st.release.run(Date.now(), consumer.id));
    }
    this.consumers.clear();
    this.wakeAll();
  }

  /**
   * Makes sure the group exists (within the app's budget) and records that someone uses it. A
   * read first: a fresh group of the same durability costs no write.
   */
  async registerGroup(options: SubscribeOptions): Promise<void> {
    const st = this.st;
    const durable = options.durable ? 1 : 0;
    const fresh = await this.sqlite.read(() => {
      const g = st.groupInfo.get(this.name, options.group, options.topic);
      return g !== undefined && g.durable >= durable && g.last_seen_at !== null && Date.now() - g.last_seen_at < Math.min(TOUCH_EVERY_MS, options.idleMs / 4);
    });
    if (fresh) return;
    await this.sqlite.write(() => {
      const now = Date.now();
      const row = { component: this.name, name: options.group, topic: options.topic, durable, now, idle: options.idleMs };
      if (st.groupInfo.get(this.name, options.group, options.topic) !== undefined) {
        st.touchGroup.run(row);
        return;
      }
      if ((st.countGroups.get(this.name, options.app)?.n ?? 0) >= options.maxGroups) throw tooManyGroups(options.app, options.maxGroups);
      st.insertGroup.run({ ...row, app: options.app });
    });
  }

  /** Inserts a message and one delivery per group subscribed to its topic; inside a write. */
  private insert(st: Statements, message: PublishMessage, messageId: string, now: number): void {
    const rowid = st.insertMessage.run(
      this.name,
      message.topic,
      messageId,
      message.data,
      message.contentType,
      JSON.stringify(message.metadata),
      message.key ?? null,
      now,
    ).lastInsertRowid;
    st.fanOut.run(rowid, now, this.name, message.topic);
  }

  /** Moves ready deliveries that used up their attempts to the dead-letter topic; inside a write. */
  private deadLetter(st: Statements, options: SubscribeOptions, now: number): boolean {
    const rows = st.exhausted.all(
      this.name,
      options.group,
      options.topic,
      now,
      options.maxDeliveryAttempts,
      DEAD_LETTER_BATCH,
    );
    for (const row of rows) {
      const msg = st.message.get(row.message_rowid);
      if (msg && options.deadLetterTopic) {
        this.insert(
          st,
          {
            topic: options.deadLetterTopic,
            data: msg.data,
            contentType: msg.content_type,
            key: msg.msg_key ?? undefined,
            metadata: {
              ...parseMetadata(msg.metadata),
              [DEAD_LETTER_METADATA.originalTopic]: msg.topic,
              [DEAD_LETTER_METADATA.originalMessageId]: msg.message_id,
              [DEAD_LETTER_METADATA.attempts]: String(row.attempts),
              [DEAD_LETTER_METADATA.group]: options.group,
            },
          },
          randomUUID(),
          now,
        );
      }
      st.ack.run(this.name, options.group, row.message_rowid);
      this.logger.warn(
        { group: options.group, topic: options.topic, messageId: msg?.message_id, attempts: row.attempts, deadLetterTopic: options.deadLetterTopic },
        options.deadLetterTopic ? 'message moved to the dead-letter topic' : 'message dropped after max delivery attempts',
      );
    }
    return rows.length > 0;
  }

  private wake(topic: string): void {
    for (const c of this.consumers) if (c.topic === topic) c.wake();
    this.wakeWaiters();
  }

  private wakeGroup(group: string): void {
    for (const c of this.consumers) if (c.group === group) c.wake();
    this.wakeWaiters();
  }

  private wakeAll(): void {
    for (const c of this.consumers) c.wake();
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  private waitForWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      // Ref'd on purpose: someone awaits this pull, and the wait is bounded by waitMs.
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}


function parseDeliveryId(group: string, deliveryId: string): { rowid: number; attempt: number | null } {
  const m = DELIVERY_ID.exec(deliveryId);
  if (!m) throw unknownDelivery(group, deliveryId);
  return { rowid: Number(m[1]), attempt: m[2] === undefined ? null : Number(m[2]) };
}

function unknownDelivery(group: string, deliveryId: string): HearthError {
  return new HearthError('HEARTH_ERR_UNKNOWN_DELIVERY', `no pending delivery "${deliveryId}" in group "${group}"`);
}

function parseMetadata(json: string): Record<string, string> {
  try {
    const v: unknown = JSON.parse(json);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v).map(([k, val]) => [k, String(val)]));
    }
  } catch {
    // Written by this module as JSON; a corrupt value degrades to no metadata.
  }
  return {};
}
