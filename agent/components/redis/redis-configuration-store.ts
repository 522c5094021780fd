// configuration.redis: operator-provided configuration items as the fields of ONE Redis hash.
//
// Layout: the hash `<keyPrefix>hearth:config:<name>` (legacy layout: `<keyPrefix><hash>`,
// metadata.hash, default `hearth:configuration`); one field per item key (not namespaced per app:
// the configuration API checks component ACLs). A field's value is either the item's plain value,
// whose version is a short sha256 of the value, or a JSON object {"value": "…", "version": "…",
// "metadata": {…}} (version and metadata optional; any other JSON is just a plain value).
// Operators use any client (here for a component named `redis`):
//   redis-cli HSET hearth:config:redis feature.x on
//   redis-cli HSET hearth:config:redis limits '{"value":"10","version":"v3","metadata":{"owner":"ops"}}'
//   redis-cli HDEL hearth:config:redis feature.x
//
// Key design decision: keyspace notifications carry no value and are lost while disconnected, so
// they are only a trigger. Every trigger (a notification, debounced; a (re)connect; a slow poll)
// re-reads the whole hash and diffs it against the last snapshot, so subscribers get exactly the
// changed and deleted items, including those changed while Redis was away. Polling alone still
// works where CONFIG SET is refused (managed Redis) and in Cluster mode (notifications are
// node-local there, and our subscriber connection may sit on another node).
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ComponentContext } from '../component.js';
import type { ConfigurationItem, ConfigurationItems, ConfigurationStore } from '../configuration-store.js';
import { RedisComponent } from './redis-component.js';
import { MetadataReader } from '../component-metadata.js';
import type { RedisClient } from './redis-connection.js';
import { diffItems, notifySubscribers, type ConfigurationSubscriber, type ItemSnapshot } from '../configuration-changes.js';

const DEFAULT_POLL_MS = 5000;
/** An HSET burst (an operator's script) is one re-read, not one per field. */
const DEBOUNCE_MS = 50;
/** Notification classes we need: K keyspace channel, h hash commands, g DEL/RENAME/…, x expired, e evicted. */
const NEEDED_EVENT_FLAGS = ['K', 'h', 'g', 'x', 'e'];
/** `A` is the alias of every key-type class (g$lshzxet…), so it covers h, g, x and e. */
const COVERED_BY_A = new Set(['h', 'g', 'x', 'e']);
const ITEM_KEYS = new Set(['value', 'version', 'metadata']);

type Subscriber = ConfigurationSubscriber;

type Snapshot = ItemSnapshot;

export class RedisConfigurationStore extends RedisComponent implements ConfigurationStore {
  private readonly hashKey: string;
  private readonly enableKeyspaceNotifications: boolean;
  private readonly pollMs: number;
  private readonly subscribers = new Set<Subscriber>();
  /** The hash as last read; undefined until the first successful read (which notifies nobody). */
  private snapshot: Snapshot | undefined;
  private closed = false;
  private subscriber: RedisClient | undefined;
  private mainClient: RedisClient | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private readFailing = false;
  private subscriberError: string | undefined;
  private notificationsWarned = false;
  private notifying: Promise<void> | undefined;

  constructor(ctx: ComponentContext) {
    super(ctx);
    this.hashKey = this.keys.prefix;
    const r = new MetadataReader(ctx);
    this.enableKeyspaceNotifications = r.bool('enableKeyspaceNotifications', true);
    this.pollMs = r.int('pollIntervalMs', DEFAULT_POLL_MS);
  }

  async get(keys: readonly string[]): Promise<ConfigurationItems> {
    const out: ConfigurationItems = {};
    if (keys.length === 0) {
      const all = await this.call((c) => c.hgetall(this.hashKey));
      for (const [k, raw] of Object.entries(all)) out[k] = parseField(raw);
      return out;
    }
    const values = await this.call((c) => c.hmget(this.hashKey, ...keys));
    keys.forEach((k, i) => {
      const raw = values[i];
      if (raw !== null && raw !== undefined) out[k] = parseField(raw);
    });
    return out;
  }

  subscribe(keys: readonly string[], onChange: (items: ConfigurationItems) => void): () => void {
    const sub: Subscriber = { keys: new Set(keys), onChange };
    this.subscribers.add(sub);
    return () => {
      this.subscribers.delete(sub);
    };
  }

  protected override async afterStart(): Promise<void> {
    // The baseline first, so a change made right after start() is a difference, not the baseline.
    await this.refresh();
    if (this.closed) return; // closed while the first read ran
    this.pollTimer = setInterval(() => this.triggerRefresh(), this.pollMs);
    this.pollTimer.unref();
    // The shared client reconnecting after an outage: catch up at once rather than at the next poll.
    this.mainClient = this.client;
    this.mainClient.on('ready', this.onMainReady);
    if (this.redis.options.mode === 'cluster') {
      this.logger.info({ pollIntervalMs: this.pollMs }, 'Redis Cluster: keyspace notifications are node-local; configuration changes are picked up by polling');
      return;
    }
    const subscribed = this.startSubscriber();
    // With Redis up, start() returns with notifications live; with it down, the reconnect catches up.
    if (this.redis.health().healthy) await withTimeout(subscribed, this.redis.options.connectTimeoutMs);
  }

  protected override async beforeClose(): Promise<void> {
    this.stop();
    await this.refreshing;
  }

  protected override onDestroy(): void {
    this.stop();
  }

  private stop(): void {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.pollTimer = this.debounceTimer = undefined;
    this.mainClient?.off('ready', this.onMainReady);
    this.mainClient = undefined;
    this.subscriber?.disconnect();
    this.subscriber = undefined;
    this.subscribers.clear();
  }

  private readonly onMainReady = (): void => void this.resync();

  /** After a (re)connect: make sure the server still publishes (a restarted one forgot CONFIG SET), then catch up. */
  private async resync(): Promise<void> {
    try {
      if (this.subscriber) await this.ensureNotifications();
    } catch (err) {
      this.logger.debug({ err }, 'cannot check keyspace notifications yet; retrying on the next connect');
    }
    this.triggerRefresh();
  }

  /**
   * A dedicated connection: SUBSCRIBE takes a connection over. It reconnects by itself. Resolves
   * once the first subscription is set up (never rejects; may never resolve while Redis is down).
   */
  private startSubscriber(): Promise<void> {
    let firstSync: () => void = () => undefined;
    const subscribed = new Promise<void>((resolve) => (firstSync = resolve));
    const sub = this.redis.duplicate();
    this.subscriber = sub;
    // The db ioredis actually selected (a `redis://host/3` URL wins over metadata.db).
    const db = sub instanceof Redis ? (sub.options.db ?? 0) : this.redis.options.db;
    const channel = `__keyspace@${db}__:${this.hashKey}`;
    sub.on('message', (ch: string) => {
      if (ch === channel) this.scheduleRefresh();
    });
    sub.on('error', (err: Error) => {
      if (this.subscriberError !== err.message) this.logger.debug({ err: err.message }, 'configuration subscriber connection error');
      this.subscriberError = err.message;
    });
    // Every (re)connect: subscribe (again; idempotent), then resync, so that whatever changed
    // before the subscription was active shows up in the re-read and everything after as a message.
    sub.on('ready', () => {
      this.subscriberError = undefined;
      sub.subscribe(channel).then(
        () => this.resync().finally(firstSync),
        (err: unknown) => this.logger.debug({ err }, 'configuration subscribe failed; retrying on the next connect'),
      );
    });
    sub.connect().catch(() => undefined);
    return subscribed;
  }

  /** Both connections coming back run this; one at a time (else both read '' and both log the SET). */
  private ensureNotifications(): Promise<void> {
    this.notifying ??= this.enableNotifications().finally(() => (this.notifying = undefined));
    return this.notifying;
  }

  /** Adds the event classes we need to what is already set; never removes anyone else's flags. */
  private async enableNotifications(): Promise<void> {
    if (!this.enableKeyspaceNotifications || this.closed) return;
    try {
      const reply = await this.client.config('GET', 'notify-keyspace-events');
      const current = Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : '';
      const wanted = withNotificationFlags(current);
      if (wanted !== current) {
        await this.client.config('SET', 'notify-keyspace-events', wanted);
        this.logger.info({ from: current, to: wanted }, 'enabled keyspace notifications');
      }
    } catch (err) {
      // A reply error is a refusal (CONFIG disabled or not allowed by ACL); anything else is the
      // connection, and the next reconnect tries again.
      if ((err as Error | null)?.name !== 'ReplyError') throw err;
      if (!this.notificationsWarned) {
        this.logger.warn(
          { err: (err as Error).message, pollIntervalMs: this.pollMs },
          'cannot enable keyspace notifications (CONFIG SET refused); configuration changes are picked up by polling',
        );
      }
      this.notificationsWarned = true;
    }
  }

  private scheduleRefresh(): void {
    if (this.debounceTimer || this.closed) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.triggerRefresh();
    }, DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  /** One read at a time; a trigger during a read runs one more read after it. */
  private triggerRefresh(): void {
    if (this.closed) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = this.refresh().finally(() => {
      this.refreshing = undefined;
      if (this.refreshAgain) {
        this.refreshAgain = false;
        this.triggerRefresh();
      }
    });
  }

  /** Re-reads the hash and tells subscribers what differs from the last snapshot. Never rejects. */
  private async refresh(): Promise<void> {
    let raw: Record<string, string>;
    try {
      raw = await this.call((c) => c.hgetall(this.hashKey));
    } catch (err) {
      if (!this.readFailing && !this.closed) this.logger.warn({ err }, 'cannot read the configuration hash; subscribers catch up once Redis is back');
      this.readFailing = true;
      return;
    }
    if (this.readFailing) this.logger.info('configuration hash readable again');
    this.readFailing = false;
    const next: Snapshot = new Map(Object.entries(raw).map(([k, v]) => [k, parseField(v)]));
    const prev = this.snapshot;
    this.snapshot = next;
    if (prev === undefined || this.closed) return;
    const changed = diffItems(prev, next);
    notifySubscribers(this.subscribers, changed, this.logger);
  }

}

async function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  await Promise.race([p, timeout]);
  clearTimeout(timer);
}

/** `current` plus the classes we need; Redis accepts the flags in any order. */
export function withNotificationFlags(current: string): string {
  const hasA = current.includes('A');
  const missing = NEEDED_EVENT_FLAGS.filter((f) => !current.includes(f) && !(hasA && COVERED_BY_A.has(f)));
  return current + missing.join('');
}

/** A field's value as an item: the JSON item shape when it is exactly that, else a plain value. */
export function parseField(raw: string): ConfigurationItem {
  const structured = raw.trimStart().startsWith('{') ? parseStructured(raw) : undefined;
  return Object.freeze(structured ?? { value: raw, version: hashValue(raw), metadata: Object.freeze({}) });
}

function parseStructured(raw: string): ConfigurationItem | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return undefined;
  const obj = doc as Record<string, unknown>;
  if (!Object.keys(obj).every((k) => ITEM_KEYS.has(k))) return undefined;
  const value = asString(obj.value);
  if (value === undefined) return undefined;
  let version = hashValue(value);
  if (obj.version !== undefined) {
    const v = asString(obj.version);
    if (v === undefined || v.length === 0) return undefined;
    version = v;
  }
  const metadata: Record<string, string> = {};
  if (obj.metadata !== undefined) {
    if (obj.metadata === null || typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) return undefined;
    for (const [mk, mv] of Object.entries(obj.metadata)) {
      const s = asString(mv);
      if (s === undefined) return undefined;
      metadata[mk] = s;
    }
  }
  return { value, version, metadata: Object.freeze(metadata) };
}

/** Strings as they are; JSON numbers and booleans as written (`{"value": 8080}` means "8080"). */
function asString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function hashValue(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 16);
}

/** Changed and added items as they are now; removed ones as `deleted` with value '' and their last version. */

