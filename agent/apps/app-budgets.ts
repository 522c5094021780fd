// What each app holds in this worker, against its budgets (AppConfig.budgets): connections per
// socket kind, open streams, delivery bytes buffered for its streams, invocations pending in its
// callback instances. A holder is counted on the way in and released exactly once on the way
// out; past a budget that app alone is refused with HEARTH_ERR_RESOURCE_EXHAUSTED, counted in
// hearth_budget_refusals_total{app,budget} and logged at most once per app and budget every ten
// seconds (a flood of refusals is one line, not a flood of lines).
//
// Per worker on purpose: what these bound — descriptors, memory, event-loop work — is the
// worker's. Host-wide quantities (subscriptions) are counted where they live (the broker).
import type { Logger } from 'pino';
import type { AppConfig } from '../config/load-config.js';
import { HearthError } from '../errors/hearth-error.js';
import type { AgentMetrics } from '../observability/metrics.js';

export type BudgetName = 'connectionsPerSocket' | 'streams' | 'bufferedBytes' | 'bufferedBytesPerStream' | 'pendingCallbacks' | 'subscriptions';
export type SocketKind = 'grpc' | 'http' | 'wire';

const LOG_EVERY_MS = 10_000;

interface Held {
  connections: Record<SocketKind, number>;
  streams: number;
  bufferedBytes: number;
  pendingCallbacks: number;
}

/** The error every over-budget refusal carries (details name the budget and its limit). */
export function budgetExceeded(app: string, budget: BudgetName, limit: number): HearthError {
  return new HearthError('HEARTH_ERR_RESOURCE_EXHAUSTED', `app "${app}" is at its budget ${budget} (${limit})`, { budget, limit });
}

export class AppBudgets {
  readonly #waiting = new Map<string, Set<() => void>>();
  readonly #held = new Map<string, Held>();
  readonly #loggedAt = new Map<string, number>();
  readonly #metrics: AgentMetrics | undefined;
  readonly #log: Logger | undefined;

  constructor(metrics?: AgentMetrics, logger?: Logger) {
    this.#metrics = metrics;
    this.#log = logger?.child({ component: 'budgets' });
  }

  /** One more connection of `app` on its `kind` socket; throws when at connectionsPerSocket. */
  connection(app: AppConfig, kind: SocketKind): () => void {
    const h = this.#of(app.id);
    const limit = app.budgets.connectionsPerSocket;
    if (h.connections[kind] >= limit) throw this.refuse(app.id, 'connectionsPerSocket', limit, { socket: kind });
    h.connections[kind] += 1;
    return once(() => (h.connections[kind] -= 1));
  }

  /** One more open stream of `app`; throws when at `streams`. */
  stream(app: AppConfig): () => void {
    return this.#count(app, 'streams');
  }

  /** One more invocation pushed to `app`'s instances; throws when at pendingCallbacks. */
  callback(app: AppConfig): () => void {
    return this.#count(app, 'pendingCallbacks');
  }

  /** One more of `budget` held by `app`, refused at its limit; returns the release. */
  #count(app: AppConfig, budget: 'streams' | 'pendingCallbacks'): () => void {
    const h = this.#of(app.id);
    const limit = app.budgets[budget];
    if (h[budget] >= limit) throw this.refuse(app.id, budget, limit);
    h[budget] += 1;
    return once(() => (h[budget] -= 1));
  }

  /** Delivery bytes buffered for `app`'s streams (added and removed by the streams themselves). */
  buffered(appId: string, delta: number): number {
    const h = this.#of(appId);
    h.bufferedBytes = Math.max(0, h.bufferedBytes + delta);
    if (delta < 0) {
      const waiting = this.#waiting.get(appId);
      if (waiting !== undefined) {
        this.#waiting.delete(appId);
        for (const listener of waiting) listener();
      }
    }
    return h.bufferedBytes;
  }

  /**
   * Calls `listener` once, the next time `app`'s buffered bytes go down: a stream paused because
   * the *app* was over bufferedBytes learns when another stream's drain made room.
   */
  whenBufferedDrops(appId: string, listener: () => void): void {
    let waiting = this.#waiting.get(appId);
    if (waiting === undefined) this.#waiting.set(appId, (waiting = new Set()));
    waiting.add(listener);
  }

  /** What `app` holds now (status, tests). */
  held(appId: string): Readonly<Held> {
    return this.#of(appId);
  }

  /** Counts and (rate-limited) logs a refusal, and returns the error to throw or send. */
  refuse(app: string, budget: BudgetName, limit: number, extra: Record<string, string> = {}): HearthError {
    this.#metrics?.budgetRefusals.inc({ app, budget });
    const key = `${app}\n${budget}`;
    const now = Date.now();
    if (now - (this.#loggedAt.get(key) ?? 0) >= LOG_EVERY_MS) {
      this.#loggedAt.set(key, now);
      this.#log?.warn({ app, budget, limit, ...extra }, 'app over its budget: refused');
    }
    return budgetExceeded(app, budget, limit);
  }

  #of(appId: string): Held {
    let h = this.#held.get(appId);
    if (h === undefined) {
      h = { connections: { grpc: 0, http: 0, wire: 0 }, streams: 0, bufferedBytes: 0, pendingCallbacks: 0 };
      this.#held.set(appId, h);
    }
    return h;
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
