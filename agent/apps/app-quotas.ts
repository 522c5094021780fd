// Per-app quotas inside the shared agent: calls in flight, requests per second and request bytes
// per second (AppConfig.quota; 0 = unlimited), held by the app across every worker of the host.
// Every transport admits a call right after it authenticated it and releases it when the call
// ends, so a noisy app is refused with HEARTH_ERR_RESOURCE_EXHAUSTED before it costs anything,
// and a quiet app on the same agent keeps its share. Each message an app sends on a stream is
// admitted like a request (admitMessage), and body bytes nobody declared are charged (charge).
//
// Host-wide by leasing: the ops-agent holds each app's buckets and its in-flight slots
// (ops-agent/host-quotas.ts); a worker leases small chunks of them (a twentieth of a second's
// rate, a sixteenth of the slots) over the hand-off IPC, asks for the next chunk before it runs
// out, and decides every call locally and synchronously from what it holds — no round trip on a
// call. While the host had room at its last answer, a worker that runs dry admits up to one more
// chunk on credit (repaid from the next grant) instead of refusing a call the host would admit;
// once the host said it is out, the worker refuses until it refills.
// Tokens it holds unused for a second are dropped (the host's bucket refills by time anyway), and
// surplus slots go back, so an idle worker does not sit on another's share. What a worker holds
// is at most one chunk past what the app uses, which bounds the error across workers.
// When no ops-agent answers a lease in time (a worker run on its own, an ops-agent of an older
// build, or one busy restarting), the worker falls back to its share of the limits (limit ÷
// workers) for that app, and tries leasing again every LEASE_RETRY_MS; its first lease then tells
// the host to forget the slots it held before, and a grant that arrives after its timeout is given back.
//
// The two rates are token buckets holding rate × burstSeconds. The byte bucket may go into debt:
// a request larger than the bucket is admitted when the bucket is not already in debt, and the
// app's next requests wait until the debt is paid back. So the average stays at bytesPerSecond
// and a message larger than one burst is slowed down, never refused forever.
//
// A refusal carries a hint, read with quotaRetryAfterMs(err), of when the refused limit could
// admit again (the wire server stops reading a flooding connection that long). It is kept beside
// the error rather than in its details, which callers see and match on.
import type { Logger } from 'pino';
import type { QuotaAmounts } from '../../upgrade/handoff-protocol.js';
import type { AppConfig } from '../config/load-config.js';
import { HearthError } from '../errors/hearth-error.js';

export type QuotaName = 'maxInFlight' | 'requestsPerSecond' | 'bytesPerSecond';

/** What a worker asks the host for, or gives back (`returnSlots`), for one app. */
export interface LeaseRequest extends QuotaAmounts {
  readonly returnSlots: number;
}

/** What the host granted. */
export type LeaseGrant = QuotaAmounts;

/** The worker's end of the host's quota leases (the hand-off IPC in a worker). */
export interface QuotaLeaser {
  /** Resolves with the grant; rejects when the host does not answer. */
  lease(appId: string, request: LeaseRequest): Promise<LeaseGrant>;
}

/** One token bucket; `rate` per second, `depth` tokens at most. Also the host's (host-quotas.ts). */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(depth: number, now: number) {
    this.#tokens = depth;
    this.#at = now;
  }

  /** Tokens available at `now` (may be negative: debt). Rate and depth come from the current config. */
  refill(rate: number, depth: number, now: number): number {
    const elapsedSeconds = Math.max(0, now - this.#at) / 1000;
    this.#tokens = Math.min(depth, this.#tokens + elapsedSeconds * rate);
    this.#at = now;
    return this.#tokens;
  }

  take(n: number): void {
    this.#tokens -= n;
  }
}

/** A lease chunk: this share of a second's rate; slots in this many slices of the limit. */
const CHUNK_OF_RATE = 0.05;
const SLOT_SLICES = 16;
/** Leased tokens unused this long are dropped. */
const LEASE_TTL_MS = 1_000;
/** A lease unanswered this long: the worker falls back to its share of the limits for that app. */
const LEASE_TIMEOUT_MS = 500;
/** Fallen back: leasing is tried again after this long. */
const LEASE_RETRY_MS = 5_000;

interface Leased {
  requests: number;
  bytes: number;
  slots: number;
  grantedAt: number;
  pending: boolean;
  /** After a grant short of what was asked: the next ask waits until the host could have refilled. */
  retryAt: number;
  /** When the host last granted less than asked (it is out); 0 when it never did. */
  shortAt: number;
  /** The first lease after a fall-back: the host forgets what it counted for this worker before. */
  resetHost: boolean;
}

interface AppUsage {
  readonly app: AppConfig;
  inFlight: number;
  /** Local buckets: standalone, or the fallback share. */
  requests: TokenBucket | undefined;
  bytes: TokenBucket | undefined;
  /** Host leases; undefined while the app is on local buckets (fallen back). */
  leased: Leased | undefined;
  /** Fallen back: when to try leasing again (0: never fell back). */
  leaseRetryAt: number;
}

export interface AppQuotasOptions {
  /** Monotonic milliseconds; injectable so the buckets can be tested without sleeping. */
  readonly now?: () => number;
  /** The host's leases; without it every limit is this worker's share (÷ workers). */
  readonly leaser?: QuotaLeaser | undefined;
  /** Workers sharing the host's limits (the fallback share divides by it). Default 1. */
  readonly workers?: number;
  readonly logger?: Logger | undefined;
}

/** What a transport needs of the quotas: admit one call or throw HEARTH_ERR_RESOURCE_EXHAUSTED. */
export interface QuotaGate {
  /** Counts one call of `bytesIn` request bytes; the returned function ends it (idempotent). */
  admit(app: AppConfig, bytesIn: number): () => void;
  /** One message on an open stream: counted like a request (no in-flight slot); false when refused. */
  admitMessage?(app: AppConfig, bytes: number): boolean;
  /**
   * Charged, never refused: bytes read beyond what a call declared (a chunked body), or messages
   * that must not be refused (`requests`: an app's answers to invocations).
   */
  charge?(app: AppConfig, bytes: number, requests?: number): void;
}

export class AppQuotas implements QuotaGate {
  readonly #usage = new Map<string, AppUsage>();
  readonly #now: () => number;
  readonly #leaser: QuotaLeaser | undefined;
  readonly #share: number;
  readonly #log: Logger | undefined;

  constructor(options: AppQuotasOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#leaser = options.leaser;
    this.#share = 1 / Math.max(1, options.workers ?? 1);
    this.#log = options.logger?.child({ component: 'quotas' });
  }

  /** Asks the host for each limited app's first chunks (awaited before a worker serves). */
  async prime(apps: readonly AppConfig[]): Promise<void> {
    await Promise.all(apps.filter(limited).map((app) => this.#ask(app, this.#usageOf(app), true)));
  }

  admit(app: AppConfig, bytesIn: number): () => void {
    const { maxInFlight } = app.quota;
    const usage = this.#usageOf(app);
    const bytes = Math.max(0, bytesIn);
    const leased = usage.leased;
    if (maxInFlight > 0) {
      const slots = leased === undefined ? Math.max(1, Math.floor(maxInFlight * this.#share)) : leased.slots + this.#credit(leased, slotChunk(maxInFlight));
      if (usage.inFlight >= slots) {
        if (leased !== undefined) void this.#ask(app, usage);
        throw exhausted(app.id, 'maxInFlight', maxInFlight, IN_FLIGHT_RETRY_MS);
      }
    }
    this.#take(app, usage, bytes, true);
    usage.inFlight += 1;
    // Ask for more slots before the last one is taken.
    if (leased !== undefined && maxInFlight > 0 && leased.slots - usage.inFlight < Math.ceil(slotChunk(maxInFlight) / 2)) void this.#ask(app, usage);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      usage.inFlight -= 1;
      if (usage.leased !== undefined) this.#returnSurplusSlots(app, usage);
    };
  }

  admitMessage(app: AppConfig, bytes: number): boolean {
    try {
      this.#take(app, this.#usageOf(app), Math.max(0, bytes), true);
      return true;
    } catch {
      return false;
    }
  }

  charge(app: AppConfig, bytes: number, requests = 0): void {
    const { bytesPerSecond, requestsPerSecond, burstSeconds } = app.quota;
    const chargeBytes = bytes > 0 && bytesPerSecond > 0;
    const chargeRequests = requests > 0 && requestsPerSecond > 0;
    if (!chargeBytes && !chargeRequests) return;
    const usage = this.#usageOf(app);
    if (usage.leased !== undefined) {
      if (chargeBytes) usage.leased.bytes -= bytes;
      if (chargeRequests) usage.leased.requests -= requests;
      void this.#ask(app, usage);
      return;
    }
    const now = this.#now();
    if (chargeBytes) this.#localBucket(usage, 'bytes', bytesPerSecond, burstSeconds, now).bucket.take(bytes);
    if (chargeRequests) this.#localBucket(usage, 'requests', requestsPerSecond, burstSeconds, now).bucket.take(requests);
  }

  /** This worker's bucket of `usage` for a rate of `perSecond` (its share), refilled to `now`. */
  #localBucket(usage: AppUsage, kind: 'requests' | 'bytes', perSecond: number, burstSeconds: number, now: number): { bucket: TokenBucket; tokens: number; rate: number } {
    const rate = perSecond * this.#share;
    const depth = Math.max(1, rate * burstSeconds);
    const bucket = (usage[kind] ??= new TokenBucket(depth, now));
    return { bucket, tokens: bucket.refill(rate, depth, now), rate };
  }

  /** Calls of `appId` admitted and not yet released (streams count while open). */
  inFlight(appId: string): number {
    return this.#usage.get(appId)?.inFlight ?? 0;
  }

  /** Checks the rates (throws, taking nothing) and takes one request and `bytes`. */
  #take(app: AppConfig, usage: AppUsage, bytes: number, count: boolean): void {
    const { requestsPerSecond, bytesPerSecond, burstSeconds } = app.quota;
    const leased = usage.leased;
    const now = this.#now();
    if (leased !== undefined) {
      if (now - leased.grantedAt > LEASE_TTL_MS) {
        // Held too long unused: given up (the host's bucket refilled meanwhile); debt stays.
        leased.requests = Math.min(leased.requests, 0);
        leased.bytes = Math.min(leased.bytes, 0);
      }
      const needRequest = count && requestsPerSecond > 0 && leased.requests + this.#credit(leased, chunk(requestsPerSecond)) < 1;
      // An app whose byte bucket is empty or in debt (a chunked body read past it) is refused any
      // call, a bodiless one included, until the bucket refills.
      const needBytes = bytesPerSecond > 0 && leased.bytes + this.#credit(leased, chunk(bytesPerSecond)) <= 0;
      if (needRequest || needBytes) {
        void this.#ask(app, usage);
        if (needRequest) throw exhausted(app.id, 'requestsPerSecond', requestsPerSecond, 1000 / requestsPerSecond);
        throw exhausted(app.id, 'bytesPerSecond', bytesPerSecond, (Math.max(bytes, -leased.bytes, chunk(bytesPerSecond)) / bytesPerSecond) * 1000);
      }
      if (count && requestsPerSecond > 0) leased.requests -= 1;
      if (bytesPerSecond > 0) leased.bytes -= bytes;
      // Ask for the next chunk before this one runs out.
      if ((requestsPerSecond > 0 && leased.requests < chunk(requestsPerSecond) / 2) || (bytesPerSecond > 0 && leased.bytes < chunk(bytesPerSecond) / 2)) {
        void this.#ask(app, usage);
      }
      return;
    }
    // Local buckets: this worker's share of each rate. Check every limit before taking from any
    // bucket: a refused call costs the app nothing.
    let requests: TokenBucket | undefined;
    if (count && requestsPerSecond > 0) {
      const { bucket, tokens, rate } = this.#localBucket(usage, 'requests', requestsPerSecond, burstSeconds, now);
      if (tokens < 1) throw exhausted(app.id, 'requestsPerSecond', requestsPerSecond, ((1 - tokens) / rate) * 1000);
      requests = bucket;
    }
    let byteBucket: TokenBucket | undefined;
    if (bytesPerSecond > 0) {
      const { bucket, tokens, rate } = this.#localBucket(usage, 'bytes', bytesPerSecond, burstSeconds, now);
      if (tokens <= 0) throw exhausted(app.id, 'bytesPerSecond', bytesPerSecond, (Math.max(bytes, -tokens, 1) / rate) * 1000);
      byteBucket = bucket;
    }
    requests?.take(1);
    byteBucket?.take(bytes);
  }

  /** Asks the host for the next chunks of what `app` is short of (one ask at a time per app). */
  #ask(app: AppConfig, usage: AppUsage, first = false): Promise<void> {
    const leased = usage.leased;
    const leaser = this.#leaser;
    if (leased === undefined || leaser === undefined) return Promise.resolve();
    const now = this.#now();
    if (leased.pending || (!first && now < leased.retryAt)) return Promise.resolve();
    const { requestsPerSecond, bytesPerSecond, maxInFlight } = app.quota;
    const want: LeaseRequest = {
      requests: requestsPerSecond > 0 ? Math.max(chunk(requestsPerSecond), -leased.requests) : 0,
      bytes: bytesPerSecond > 0 ? chunk(bytesPerSecond) + Math.max(0, -leased.bytes) : 0,
      slots: maxInFlight > 0 && (first || leased.slots - usage.inFlight < Math.ceil(slotChunk(maxInFlight) / 2)) ? slotChunk(maxInFlight) : 0,
      // After a fall-back, what the host still counts for this worker is forgotten (the host
      // takes back at most what it holds).
      returnSlots: leased.resetHost ? Number.MAX_SAFE_INTEGER : 0,
    };
    leased.pending = true;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(`no answer to a quota lease within ${LEASE_TIMEOUT_MS} ms`));
      }, LEASE_TIMEOUT_MS);
      timer.unref();
    });
    const asked = leaser.lease(app.id, want);
    // A grant that comes after the timeout: this worker no longer counts on it; its slots go back.
    asked.then((late) => {
      if (timedOut && late.slots > 0) void leaser.lease(app.id, { requests: 0, bytes: 0, slots: 0, returnSlots: late.slots }).catch(() => undefined);
    }, () => undefined);
    return Promise.race([asked, timeout])
      .then(
        (grant) => {
          const at = this.#now();
          leased.requests += grant.requests;
          leased.bytes += grant.bytes;
          leased.slots += grant.slots;
          leased.grantedAt = at;
          leased.resetHost = false;
          if (grant.requests < want.requests || grant.bytes < want.bytes || grant.slots < want.slots) leased.shortAt = at;
          // Short of what was asked: the host is out for now; ask again once it could have refilled
          // what is missing (at most one burst: the host's bucket holds no more, and a debt larger
          // than that is repaid a burst at a time).
          const { burstSeconds } = app.quota;
          const wait = (missing: number, rate: number): number => (Math.min(missing, rate * Math.max(burstSeconds, 1 / rate)) / rate) * 1000;
          if (grant.requests < want.requests && requestsPerSecond > 0) leased.retryAt = at + wait(want.requests - grant.requests, requestsPerSecond);
          else if (grant.bytes < want.bytes && bytesPerSecond > 0) leased.retryAt = at + wait(want.bytes - grant.bytes, bytesPerSecond);
          else if (grant.slots < want.slots) leased.retryAt = at + IN_FLIGHT_RETRY_MS;
        },
        (err: unknown) => {
          // Nobody to lease from: this app runs on this worker's share until leasing works again.
          usage.leased = undefined;
          usage.leaseRetryAt = this.#now() + LEASE_RETRY_MS;
          this.#log?.warn({ app: app.id, err }, 'quota leases unanswered: enforcing this worker\'s share of the app\'s limits for now');
        },
      )
      .finally(() => {
        clearTimeout(timer);
        leased.pending = false;
      });
  }

  /** How much a worker may admit on credit: one chunk, unless the host said lately that it is out. */
  #credit(leased: Leased, step: number): number {
    return leased.shortAt !== 0 && this.#now() - leased.shortAt < LEASE_TTL_MS ? 0 : step;
  }

  /**
   * Slots held more than two chunks past what the app uses go back to the host, down to one chunk
   * past it (the gap keeps a fluctuating load from sending a message per call).
   */
  #returnSurplusSlots(app: AppConfig, usage: AppUsage, keep = slotChunk(app.quota.maxInFlight)): void {
    const leased = usage.leased;
    const { maxInFlight } = app.quota;
    if (leased === undefined || maxInFlight <= 0 || leased.pending || this.#leaser === undefined) return;
    if (keep > 0 && leased.slots - usage.inFlight <= 2 * keep) return;
    const surplus = leased.slots - usage.inFlight - keep;
    if (surplus <= 0) return;
    leased.slots -= surplus;
    void this.#leaser.lease(app.id, { requests: 0, bytes: 0, slots: 0, returnSlots: surplus }).catch(() => undefined);
  }

  /** The worker drains: every slot not in use goes back, for the next generation to lease. */
  returnIdle(): void {
    for (const usage of this.#usage.values()) {
      const app = usage.app;
      if (usage.leased !== undefined) this.#returnSurplusSlots(app, usage, 0);
    }
  }

  #usageOf(app: AppConfig): AppUsage {
    let usage = this.#usage.get(app.id);
    if (usage === undefined) {
      const leased = this.#leaser !== undefined && limited(app) ? this.#newLease(false) : undefined;
      usage = { app, inFlight: 0, requests: undefined, bytes: undefined, leased, leaseRetryAt: 0 };
      this.#usage.set(app.id, usage);
    } else if (usage.leased === undefined && usage.leaseRetryAt !== 0 && this.#now() >= usage.leaseRetryAt) {
      // Fallen back a while ago: lease again (this call still goes by the local buckets' figures
      // only if the host does not answer once more).
      usage.leaseRetryAt = 0;
      usage.leased = this.#newLease(true);
      void this.#ask(app, usage, true);
    }
    return usage;
  }

  #newLease(resetHost: boolean): Leased {
    return { requests: 0, bytes: 0, slots: 0, grantedAt: this.#now(), pending: false, retryAt: 0, shortAt: 0, resetHost };
  }
}

function limited(app: AppConfig): boolean {
  const q = app.quota;
  return q.maxInFlight > 0 || q.requestsPerSecond > 0 || q.bytesPerSecond > 0;
}

function chunk(rate: number): number {
  return Math.max(1, Math.ceil(rate * CHUNK_OF_RATE));
}

function slotChunk(maxInFlight: number): number {
  return Math.max(1, Math.ceil(maxInFlight / SLOT_SLICES));
}

/** A slot frees when one of the app's calls ends, which nothing here can predict: a short guess. */
const IN_FLIGHT_RETRY_MS = 10;

const retryAfter = new WeakMap<object, number>();

/**
 * For a refusal made here: milliseconds until the refused limit could admit a call again (at
 * least 1; a guess for maxInFlight). Undefined for any other error.
 */
export function quotaRetryAfterMs(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null ? retryAfter.get(err) : undefined;
}

function exhausted(appId: string, quota: QuotaName, limit: number, retryAfterMs: number): HearthError {
  const what = quota === 'maxInFlight' ? 'calls in flight' : quota === 'requestsPerSecond' ? 'requests per second' : 'request bytes per second';
  const err = new HearthError('HEARTH_ERR_RESOURCE_EXHAUSTED', `app "${appId}" is over its quota ${quota} (${limit} ${what})`, {
    quota,
    limit,
  });
  retryAfter.set(err, Math.max(1, Math.ceil(retryAfterMs)));
  return err;
}
