// Per-app quotas inside the shared agent: calls in flight, requests per second and request bytes
// per second (AppConfig.quota; 0 = unlimited). Every transport admits a call right after it
// authenticated it and releases it when the call ends, so a noisy app is refused with
// HEARTH_ERR_RESOURCE_EXHAUSTED before it costs anything, and a quiet app on the same agent keeps
// its share.
//
// Enforced per worker process: with `workers: N` an app may reach N × its limits on one host. The
// counters are in memory on purpose: a shared counter would put a cross-process round trip on
// every call of every app, which is what quotas are meant to protect.
//
// The two rates are token buckets holding rate × burstSeconds. The byte bucket may go into debt:
// a request larger than the bucket is admitted when the bucket is not already in debt, and the
// app's next requests wait until the debt is paid back. So the average stays at bytesPerSecond
// and a message larger than one burst is slowed down, never refused forever.
//
// A refusal carries a hint, read with quotaRetryAfterMs(err), of when the refused limit could
// admit again (the wire server stops reading a flooding connection that long). It is kept beside
// the error rather than in its details, which callers see and match on.
import type { AppConfig } from '../config/load-config.js';
import { HearthError } from '../errors/hearth-error.js';

export type QuotaName = 'maxInFlight' | 'requestsPerSecond' | 'bytesPerSecond';

/** One token bucket; `rate` per second, `depth` tokens at most. */
class TokenBucket {
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

interface AppUsage {
  inFlight: number;
  requests: TokenBucket | undefined;
  bytes: TokenBucket | undefined;
}

export interface AppQuotasOptions {
  /** Monotonic milliseconds; injectable so the buckets can be tested without sleeping. */
  readonly now?: () => number;
}

/** What a transport needs of the quotas: admit one call or throw HEARTH_ERR_RESOURCE_EXHAUSTED. */
export interface QuotaGate {
  /** Counts one call of `bytesIn` request bytes; the returned function ends it (idempotent). */
  admit(app: AppConfig, bytesIn: number): () => void;
}

export class AppQuotas implements QuotaGate {
  readonly #usage = new Map<string, AppUsage>();
  readonly #now: () => number;

  constructor(options: AppQuotasOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
  }

  admit(app: AppConfig, bytesIn: number): () => void {
    const { maxInFlight, requestsPerSecond, bytesPerSecond, burstSeconds } = app.quota;
    const usage = this.#usageOf(app.id);
    const now = this.#now();
    const bytes = Math.max(0, bytesIn);

    if (maxInFlight > 0 && usage.inFlight >= maxInFlight) throw exhausted(app.id, 'maxInFlight', maxInFlight, IN_FLIGHT_RETRY_MS);
    // Check every limit before taking from any bucket: a refused call costs the app nothing.
    let requests: TokenBucket | undefined;
    if (requestsPerSecond > 0) {
      const depth = Math.max(1, requestsPerSecond * burstSeconds);
      requests = usage.requests ??= new TokenBucket(depth, now);
      const tokens = requests.refill(requestsPerSecond, depth, now);
      if (tokens < 1) throw exhausted(app.id, 'requestsPerSecond', requestsPerSecond, ((1 - tokens) / requestsPerSecond) * 1000);
    }
    let byteBucket: TokenBucket | undefined;
    if (bytesPerSecond > 0 && bytes > 0) {
      const depth = Math.max(1, bytesPerSecond * burstSeconds);
      byteBucket = usage.bytes ??= new TokenBucket(depth, now);
      const tokens = byteBucket.refill(bytesPerSecond, depth, now);
      if (tokens <= 0) throw exhausted(app.id, 'bytesPerSecond', bytesPerSecond, (-tokens / bytesPerSecond) * 1000);
    }
    requests?.take(1);
    byteBucket?.take(bytes);

    usage.inFlight += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      usage.inFlight -= 1;
    };
  }

  /** Calls of `appId` admitted and not yet released (streams count while open). */
  inFlight(appId: string): number {
    return this.#usage.get(appId)?.inFlight ?? 0;
  }

  #usageOf(appId: string): AppUsage {
    let usage = this.#usage.get(appId);
    if (usage === undefined) {
      usage = { inFlight: 0, requests: undefined, bytes: undefined };
      this.#usage.set(appId, usage);
    }
    return usage;
  }
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
