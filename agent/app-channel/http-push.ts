// Push subscriptions over an app's HTTP channel (docs/app-channel.md, "Push subscriptions"), as
// Dapr delivers them: the app's subscriptions — declared in the configuration
// (`apps[].subscriptions`) and the ones its server lists at `GET /dapr/subscribe` — are read when
// the worker starts (a reload or upgrade starts new workers, so they are read again), and each
// message is POSTed to the subscription's route as a CloudEvent. The answer settles it:
//
// - 2xx with no body, or `{"status":"SUCCESS"}` → acked;
// - `{"status":"RETRY"}`, any other status, or no answer (refused, hung up, timed out) → nacked:
//   redelivered after a backoff, dead-lettered by the broker after maxDeliveryAttempts;
// - `{"status":"DROP"}` or `404` → published to the subscription's dead-letter topic when it has
//   one, then acked; without one, acked and logged (dropped, as Dapr does).
//
// Every worker subscribes in the same consumer group (the subscription name is the topic, as for
// streams), so each message goes to one worker; a worker that drains closes its subscriptions and
// what it had not acked goes back to the group for the next generation: at least once, as for
// streams. While the channel is out (its health check fails) nothing is posted: the broker holds
// deliveries back (DeliveryCredit) until it is back, so no attempt is spent on it. At most channel.maxConcurrency messages are
// posted at once per worker and subscription (the broker holds the rest).
import type { Logger } from 'pino';
import type { CallContext, Delivery, RuntimeApi, SubscribeParams, SubscriptionHandle } from '../building-blocks/runtime-api.js';
import type { AppSubscriptionConfig } from '../config/config-schema.js';
import type { AppConfig } from '../config/load-config.js';
import { HearthError } from '../errors/hearth-error.js';
import type { HttpAppChannel } from './http-app-channel.js';

/** How long `GET /dapr/subscribe` may take. */
const LIST_TIMEOUT_MS = 5_000;
/** At most this many subscriptions per app (declared and listed together). */
const MAX_SUBSCRIPTIONS = 100;
/** Redelivery delay after a RETRY or a failed post. */
const RETRY_DELAY_MS = 1_000;
/** The answer of a push is read up to this size (it is a status, not data). */
const MAX_ANSWER_BYTES = 64 * 1024;
/** The largest `GET /dapr/subscribe` answer read. */
const MAX_LIST_BYTES = 1024 * 1024;
/** A delivery's lease outlasts the channel's timeout by this much. */
const ACK_MARGIN_MS = 10_000;

export interface HttpPushOptions {
  readonly app: AppConfig;
  readonly channel: HttpAppChannel;
  readonly api: RuntimeApi;
  readonly logger: Logger;
}

type PushOutcome = 'SUCCESS' | 'RETRY' | 'DROP';

export class HttpPush {
  readonly #o: HttpPushOptions;
  readonly #log: Logger;
  readonly #handles: SubscriptionHandle[] = [];
  #closed = false;

  constructor(options: HttpPushOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'app-push', app: options.app.id });
  }

  /**
   * Opens the declared subscriptions at once, then asks the app's server for its own — again every
   * health interval until it answers (the app may start after the agent); a server that answers
   * anything but a list (or 404: none) is logged and asked again.
   */
  async start(): Promise<void> {
    const declared = dedupe(this.#o.app.subscriptions ?? []);
    await this.#openAll(declared);
    void this.#listUntilAnswered(new Set(declared.map(keyOf)));
  }

  async #listUntilAnswered(opened: Set<string>): Promise<void> {
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        const listed = dedupe(await this.#list()).filter((s) => !opened.has(keyOf(s)));
        await this.#openAll(listed.slice(0, Math.max(0, MAX_SUBSCRIPTIONS - opened.size)));
        return;
      } catch (err) {
        if (attempt === 1) this.#log.info({ err: (err as Error).message }, 'GET /dapr/subscribe: no answer yet; asking again every health interval');
      }
      await new Promise((resolve) => setTimeout(resolve, this.#o.channel.healthIntervalMs).unref());
    }
  }

  async #openAll(list: readonly AppSubscriptionConfig[]): Promise<void> {
    for (const sub of list) {
      if (this.#closed) return;
      try {
        await this.#open(sub);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message, pubsub: sub.pubsubName, topic: sub.topic }, 'cannot open a push subscription');
      }
    }
  }

  /** Closes every subscription: what was not acked goes back to its group. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#handles.splice(0).map((h) => h.close().catch(() => undefined)));
  }

  async #open(sub: AppSubscriptionConfig): Promise<void> {
    const ctx = this.#context();
    const holder: { handle?: SubscriptionHandle; early: Delivery[] } = { early: [] };
    const settle = (d: Delivery, handle: SubscriptionHandle): void =>
      void this.#push(sub, d, handle).catch(async (err: unknown) => {
        this.#log.warn({ err }, 'settling a push failed; the message is redelivered');
        await handle.nack(d.deliveryId, RETRY_DELAY_MS).catch(() => undefined);
      });
    // While the channel is out the broker holds deliveries back (none is claimed, no attempt is
    // spent); the lease of a claimed one outlasts the longest POST, so it is never claimed twice.
    const credit = { paused: () => !this.#o.channel.open, budgetBytes: () => Number.MAX_SAFE_INTEGER };
    const handle = await this.#o.api.pubsub.subscribe(
      ctx,
      { ...paramsOf(sub), maxInFlight: this.#o.channel.maxConcurrency, ackDeadlineMs: this.#o.channel.timeoutMs + ACK_MARGIN_MS },
      (d) => {
        if (holder.handle === undefined) holder.early.push(d);
        else settle(d, holder.handle);
      },
      credit,
    );
    if (this.#closed) {
      await handle.close();
      return;
    }
    holder.handle = handle;
    for (const d of holder.early.splice(0)) settle(d, handle);
    this.#o.channel.onOpen(() => handle.resume());
    this.#handles.push(handle);
    this.#log.info({ pubsub: sub.pubsubName, topic: sub.topic, route: sub.route }, 'push subscription open');
  }

  async #push(sub: AppSubscriptionConfig, d: Delivery, handle: SubscriptionHandle): Promise<void> {
    const outcome = await this.#post(sub, d);
    if (outcome === 'SUCCESS') return handle.ack(d.deliveryId);
    if (outcome === 'RETRY') return handle.nack(d.deliveryId, RETRY_DELAY_MS);
    const moved = await this.#o.api.pubsub.deadLetter(this.#context(), paramsOf(sub), d);
    if (!moved) this.#log.warn({ topic: d.topic, messageId: d.messageId, route: sub.route }, 'the app dropped a message (DROP) and its subscription has no dead-letter topic: dropped');
    await handle.ack(d.deliveryId);
  }

  /** One message as one POST; never rejects. */
  #post(sub: AppSubscriptionConfig, d: Delivery): Promise<PushOutcome> {
    const cloudEvent = d.metadata.rawPayload?.toLowerCase() !== 'true';
    return new Promise((resolve) => {
      const req = this.#o.channel.request({
        method: 'POST',
        path: sub.route.startsWith('/') ? sub.route : `/${sub.route}`,
        headers: { 'content-type': cloudEvent ? 'application/cloudevents+json' : d.contentType || 'application/octet-stream', 'content-length': d.data.length },
        timeoutMs: this.#o.channel.timeoutMs,
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes <= MAX_ANSWER_BYTES) chunks.push(c);
        });
        res.on('end', () => resolve(outcomeOf(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
        res.on('error', () => resolve('RETRY'));
      });
      req.on('error', () => resolve('RETRY'));
      req.on('close', () => resolve('RETRY'));
      req.end(d.data);
    });
  }

  /** The app's own list (Dapr's `GET /dapr/subscribe`); none when it has no such route (404). */
  #list(): Promise<AppSubscriptionConfig[]> {
    return new Promise((resolve, reject) => {
      const req = this.#o.channel.request({ method: 'GET', path: '/dapr/subscribe', headers: {}, timeoutMs: LIST_TIMEOUT_MS });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes > MAX_LIST_BYTES) {
            req.destroy(new Error(`GET /dapr/subscribe answered more than ${MAX_LIST_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          if (res.statusCode === 404) return resolve([]);
          if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode ?? 0}`));
          try {
            resolve(parseSubscribeList(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown));
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.on('close', () => reject(new Error('the connection closed before a complete answer')));
      req.end();
    });
  }

  #context(): CallContext {
    return { app: this.#o.app, requestId: `push-${this.#o.app.id}`, transport: 'http', logger: this.#log };
  }
}

function paramsOf(sub: AppSubscriptionConfig): SubscribeParams {
  return {
    pubsubName: sub.pubsubName,
    topic: sub.topic,
    ...(sub.deadLetterTopic === undefined ? {} : { deadLetterTopic: sub.deadLetterTopic }),
    ...(sub.maxDeliveryAttempts === undefined ? {} : { maxDeliveryAttempts: sub.maxDeliveryAttempts }),
  };
}

/** Dapr's statuses: an empty 2xx is SUCCESS, 404 is DROP, any other non-2xx is RETRY. */
export function outcomeOf(status: number, body: string): PushOutcome {
  if (status === 404) return 'DROP';
  if (status < 200 || status > 299) return 'RETRY';
  if (body.trim() === '') return 'SUCCESS';
  try {
    const s = (JSON.parse(body) as { status?: unknown }).status;
    if (typeof s !== 'string' || s === '' || s.toUpperCase() === 'SUCCESS') return 'SUCCESS';
    if (s.toUpperCase() === 'DROP') return 'DROP';
    return 'RETRY';
  } catch {
    return 'SUCCESS';
  }
}

/** Dapr's `GET /dapr/subscribe` answer: `[{ pubsubname, topic, route | routes.default, deadLetterTopic }]`. */
export function parseSubscribeList(value: unknown): AppSubscriptionConfig[] {
  if (!Array.isArray(value)) throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'GET /dapr/subscribe did not answer a JSON array');
  const out: AppSubscriptionConfig[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const o = item as Record<string, unknown>;
    const pubsubName = typeof o.pubsubname === 'string' ? o.pubsubname : typeof o.pubsubName === 'string' ? o.pubsubName : undefined;
    const routes = typeof o.routes === 'object' && o.routes !== null ? (o.routes as Record<string, unknown>) : {};
    const route = typeof o.route === 'string' ? o.route : typeof routes.default === 'string' ? routes.default : undefined;
    if (pubsubName === undefined || typeof o.topic !== 'string' || route === undefined) continue;
    out.push({ pubsubName, topic: o.topic, route, ...(typeof o.deadLetterTopic === 'string' && o.deadLetterTopic !== '' ? { deadLetterTopic: o.deadLetterTopic } : {}) });
  }
  return out;
}

/** One subscription per pubsub and topic (a declared one wins over a listed one). */
function dedupe(list: readonly AppSubscriptionConfig[]): AppSubscriptionConfig[] {
  const seen = new Set<string>();
  return list.filter((s) => {
    const key = keyOf(s);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function keyOf(s: AppSubscriptionConfig): string {
  return `${s.pubsubName}\u0000${s.topic}`;
}

