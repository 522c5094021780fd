// The traffic governance of calls to one target app: circuit breaker, tiered power-of-two-choices
// balancing, outlier ejection, retries under a budget with backoff, hedged (backup) requests,
// and the deadline over all of it. One TargetGovernor per target app per worker; it keeps the
// per-endpoint statistics itself, so endpoints stay plain `{ id, tier, send }` objects that the
// router rebuilds as instances and siblings come and go.
//
// A call is a sequence of rounds (1..maxAttempts). A round sends to one endpoint and, for an
// idempotent call whose first attempt outlives the target's observed percentile, one backup to
// another endpoint; the first success wins and the loser is aborted. A failed round is retried
// only when the error is transient, the request is safe to repeat (idempotent, or it never left),
// the retry budget has a token and the backoff leaves time before the deadline.
import type { Logger } from 'pino';
import type { Cancellation, InvokeResult } from '../../building-blocks/runtime-api.js';
import type { InvokePolicy } from '../../config/config-schema.js';
import { isErrorCode } from '../../errors/error-catalog.js';
import { HearthError } from '../../errors/hearth-error.js';
import { invoke, raceAbort, sleep } from './abortable.js';
import { backoffDelay } from './backoff.js';
import { CircuitBreaker, type BreakerPermit, type BreakerState } from './circuit-breaker.js';
import { EndpointStats } from './endpoint-stats.js';
import { countsAsFailure, isNoInstance, isRetryable } from './error-classes.js';
import { LatencyTracker } from './latency-tracker.js';
import { OutlierDetector } from './outlier-detector.js';
import { pickP2C } from './p2c-balancer.js';
import { Budget } from './retry-budget.js';
import { MAX_TIMER_MS } from '@hearth/protocol';

/** Where a call can go. Tier 0 = this worker, 1 = other workers of this agent, 2 = sibling agents. */
export interface GovernedEndpoint {
  readonly id: string;
  readonly tier: number;
  /**
   * Sends one attempt (`attempt` counts every send of the call from 1, backups included). Should
   * stop work when `signal` aborts; the governor answers at the deadline either way. A rejection
   * whose `details.notSent` is true says the request never left (safe to retry even when not
   * idempotent).
   */
  send(attempt: number, signal: AbortSignal): Promise<InvokeResult>;
}

export interface GovernedCall {
  /** The current endpoints; asked again before every attempt, so they may change mid-call. */
  readonly endpoints: () => readonly GovernedEndpoint[];
  readonly idempotent: boolean;
  /** Absolute, in the governor's clock (Date.now() unless `now` is injected). */
  readonly deadline: number;
  /** The caller's: aborting it cancels the call. */
  readonly cancellation?: Cancellation | undefined;
  readonly requestId: string;
}

export type GovernanceEventType = 'retry' | 'hedge' | 'ejected' | 'readmitted' | 'breaker-open' | 'breaker-closed';

export interface GovernanceEvent {
  readonly type: GovernanceEventType;
  readonly target: string;
  readonly endpoint?: string;
  readonly code?: string;
}

export interface TargetGovernorOptions {
  readonly logger: Logger;
  readonly now?: () => number;
  readonly onEvent?: (event: GovernanceEvent) => void;
  /** Randomness for P2C and backoff jitter (tests pin it). */
  readonly random?: () => number;
  /** Retries a quiet target may make regardless of its traffic (default 10/s). */
  readonly retryFloorPerSecond?: number;
  /** Hedges a quiet target may make regardless of its traffic (default 1/s). */
  readonly hedgeFloorPerSecond?: number;
}

interface CallState {
  readonly call: GovernedCall;
  /** Aborts with TIMEOUT at the deadline or CANCELLED when the caller gives up. */
  readonly abort: AbortController;
  readonly tried: Set<string>;
  sends: number;
  hedged: boolean;
}

type AttemptOutcome =
  | { readonly ok: true; readonly result: InvokeResult }
  | { readonly ok: false; readonly error: HearthError; readonly notSent: boolean };

/** setTimeout fires at once beyond this; a farther deadline is effectively none. */

const SUPERSEDED = (): HearthError => new HearthError('HEARTH_ERR_CANCELLED', 'another attempt of this call won', { superseded: true });

export class TargetGovernor {
  readonly target: string;
  readonly #policy: Readonly<InvokePolicy>;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #onEvent: (event: GovernanceEvent) => void;
  readonly #stats = new Map<string, EndpointStats>();
  readonly #outliers: OutlierDetector;
  readonly #breaker: CircuitBreaker;
  readonly #retryBudget: Budget;
  readonly #hedgeBudget: Budget;
  readonly #latency: LatencyTracker;

  constructor(target: string, policy: Readonly<InvokePolicy>, options: TargetGovernorOptions) {
    this.target = target;
    this.#policy = policy;
    this.#log = options.logger.child({ component: 'invoke.governance', target });
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#onEvent = options.onEvent ?? (() => undefined);
    this.#outliers = new OutlierDetector(policy.outlier, this.#now);
    this.#breaker = new CircuitBreaker(policy.breaker, this.#now);
    this.#retryBudget = new Budget(policy.retryBudgetPercent, options.retryFloorPerSecond ?? 10, this.#now);
    this.#hedgeBudget = new Budget(policy.hedge.budgetPercent, options.hedgeFloorPerSecond ?? 1, this.#now);
    this.#latency = new LatencyTracker(this.#now);
  }

  breakerState(): BreakerState {
    return this.#breaker.state();
  }

  /** The statistics of an endpoint this governor has sent to (for metrics and tests). */
  endpointStats(id: string): EndpointStats | undefined {
    return this.#stats.get(id);
  }

  async execute(call: GovernedCall): Promise<InvokeResult> {
    if (call.cancellation?.aborted === true) throw new HearthError('HEARTH_ERR_CANCELLED', undefined, { notSent: true });
    const remaining = call.deadline - this.#now();
    if (remaining <= 0) {
      throw new HearthError('HEARTH_ERR_TIMEOUT', 'the deadline expired before the call was sent', { notSent: true });
    }
    const permit = this.#breaker.allow();
    if (!permit) {
      throw new HearthError('HEARTH_ERR_CIRCUIT_OPEN', `the circuit breaker for app "${this.target}" is open`, { notSent: true });
    }
    this.#retryBudget.deposit();
    this.#hedgeBudget.deposit();

    const state: CallState = { call, abort: new AbortController(), tried: new Set(), sends: 0, hedged: false };
    const timer = setTimeout(() => {
      state.abort.abort(new HearthError('HEARTH_ERR_TIMEOUT', `app "${this.target}" did not answer within the deadline`));
    }, Math.min(remaining, MAX_TIMER_MS));
    const stopListening = call.cancellation?.onAbort(() => state.abort.abort(new HearthError('HEARTH_ERR_CANCELLED')));
    try {
      const result = await this.#run(state);
      this.#breakerResult(permit, true, call.requestId);
      return result;
    } catch (err) {
      const error = asHearthError(err);
      const notSent = error.details?.notSent === true;
      const noVerdict = state.sends === 0 || error.code === 'HEARTH_ERR_CANCELLED' || isNoInstance(error.code, notSent);
      const verdict = noVerdict ? undefined : !countsAsFailure(error.code, notSent);
      this.#breakerResult(permit, verdict, call.requestId);
      throw error;
    } finally {
      clearTimeout(timer);
      stopListening?.();
    }
  }

  async #run(state: CallState): Promise<InvokeResult> {
    const { call } = state;
    let lastError: HearthError | undefined;
    for (let round = 1; ; round++) {
      const endpoint = this.#choose(call, state.tried, { allowTried: true });
      if (!endpoint) {
        throw lastError ?? new HearthError('HEARTH_ERR_APP_UNAVAILABLE', `no endpoint of app "${this.target}" is available`, { notSent: true });
      }
      const outcome = await this.#round(state, endpoint);
      if (outcome.ok) return outcome.result;
      if (state.abort.signal.aborted) throw asHearthError(state.abort.signal.reason);
      lastError = outcome.error;
      const code = outcome.error.code;
      if (!isRetryable(code) || !(call.idempotent || outcome.notSent) || round >= this.#policy.maxAttempts) throw outcome.error;
      const remaining = call.deadline - this.#now();
      const delay = backoffDelay(round, this.#policy.retryBackoffMs, remaining, this.#random);
      if (delay >= remaining) throw outcome.error;
      if (!this.#retryBudget.tryWithdraw()) {
        this.#log.debug({ requestId: call.requestId, code }, 'not retrying: retry budget spent');
        throw outcome.error;
      }
      this.#log.debug({ requestId: call.requestId, code, attempt: round + 1, delayMs: delay }, 'retrying');
      this.#onEvent({ type: 'retry', target: this.target, code });
      await sleep(delay, state.abort.signal);
    }
  }

  /** One primary attempt plus, when due, one backup; settles on the first success or when all failed. */
  #round(state: CallState, primary: GovernedEndpoint): Promise<AttemptOutcome> {
    const delay = this.#hedgeDelay(state);
    // No backup can follow: the one attempt runs under the call's own signal (nothing to supersede).
    if (delay === undefined) return this.#attempt(state, primary, undefined);
    return new Promise((resolve) => {
      const running = new Set<AbortController>();
      const failures: Array<AttemptOutcome & { ok: false }> = [];
      let settled = false;
      const timers: { hedge?: NodeJS.Timeout } = {};
      const finish = (outcome: AttemptOutcome): void => {
        settled = true;
        clearTimeout(timers.hedge);
        for (const other of running) other.abort(SUPERSEDED());
        resolve(outcome);
      };
      const launch = (endpoint: GovernedEndpoint): void => {
        const attempt = new AbortController();
        running.add(attempt);
        void this.#attempt(state, endpoint, attempt).then((outcome) => {
          running.delete(attempt);
          if (settled) return;
          if (outcome.ok) return finish(outcome);
          failures.push(outcome);
          if (running.size === 0) finish(roundFailure(failures));
        });
      };
      launch(primary);
      timers.hedge = setTimeout(() => {
        if (settled || running.size === 0 || state.abort.signal.aborted) return;
        const backup = this.#choose(state.call, state.tried, { allowTried: false, maxTier: primary.tier + 1 });
        if (!backup || !this.#hedgeBudget.tryWithdraw()) return;
        state.hedged = true;
        this.#log.debug({ requestId: state.call.requestId, endpoint: backup.id, afterMs: delay }, 'hedging');
        this.#onEvent({ type: 'hedge', target: this.target, endpoint: backup.id });
        launch(backup);
      }, delay);
    });
  }

  /**
   * One send to one endpoint, with its bookkeeping. Never rejects. `own` aborts this attempt alone
   * (a hedged round's loser); without it the attempt runs under the call's signal.
   */
  async #attempt(state: CallState, endpoint: GovernedEndpoint, own: AbortController | undefined): Promise<AttemptOutcome> {
    const callSignal = state.abort.signal;
    const signal = own?.signal ?? callSignal;
    const forward = own === undefined ? undefined : (): void => own.abort(callSignal.reason);
    if (forward !== undefined) {
      if (callSignal.aborted) forward();
      else callSignal.addEventListener('abort', forward, { once: true });
    }
    state.tried.add(endpoint.id);
    const stats = this.#statsFor(endpoint.id);
    const probe = this.#outliers.onSend(endpoint.id);
    stats.recordStart();
    const sendNo = ++state.sends;
    const started = this.#now();
    try {
      const result = await raceAbort(invoke(() => endpoint.send(sendNo, signal)), signal);
      const ms = this.#now() - started;
      stats.recordEnd(ms, true);
      this.#latency.record(ms);
      this.#outlierResult(endpoint.id, true, probe, state.call.requestId);
      return { ok: true, result };
    } catch (err) {
      const ms = this.#now() - started;
      let error = asHearthError(err);
      if (signal.aborted) {
        const reason = asHearthError(signal.reason);
        if (reason.code !== 'HEARTH_ERR_TIMEOUT') {
          // Cancelled by the caller or beaten by the other attempt: no verdict on the endpoint.
          stats.recordAbandon(ms);
          this.#outliers.onAbandon(endpoint.id, probe);
          return { ok: false, error: reason, notSent: false };
        }
        error = reason;
      }
      const notSent = error.details?.notSent === true;
      if (isNoInstance(error.code, notSent)) {
        // It had no instance to give the call to: neither a failure nor a success of its own.
        stats.recordAbandon(ms);
        this.#outliers.onAbandon(endpoint.id, probe);
        return { ok: false, error, notSent };
      }
      const ok = !countsAsFailure(error.code, notSent);
      stats.recordEnd(ms, ok);
      this.#outlierResult(endpoint.id, ok, probe, state.call.requestId, error.code);
      return { ok: false, error, notSent };
    } finally {
      if (forward !== undefined) callSignal.removeEventListener('abort', forward);
    }
  }

  /** The hedge delay for this call's round, or undefined when it may not hedge. */
  #hedgeDelay(state: CallState): number | undefined {
    const hedge = this.#policy.hedge;
    if (!state.call.idempotent || !hedge.enabled || state.hedged) return undefined;
    const p = this.#latency.percentile(hedge.percentile);
    if (p === undefined) return undefined;
    const delay = Math.max(p, hedge.minDelayMs);
    return this.#now() + delay < state.call.deadline ? delay : undefined;
  }

  /**
   * P2C within the lowest tier that has an admissible endpoint not yet tried by this call; with
   * `allowTried`, endpoints already tried are the fallback when nothing else is left.
   */
  #choose(call: GovernedCall, tried: ReadonlySet<string>, opts: { allowTried: boolean; maxTier?: number }): GovernedEndpoint | undefined {
    const all = call.endpoints();
    this.#prune(all);
    const admissible = this.#outliers.available(all);
    const untried = admissible.filter((e) => !tried.has(e.id));
    const pool = untried.length > 0 || !opts.allowTried ? untried : admissible;
    let tier = Infinity;
    for (const e of pool) tier = Math.min(tier, e.tier);
    if (tier > (opts.maxTier ?? Infinity)) return undefined;
    const candidates = pool.filter((e) => e.tier === tier).map((endpoint) => ({ endpoint, stats: this.#statsFor(endpoint.id) }));
    return pickP2C(candidates, this.#random)?.endpoint;
  }

  #outlierResult(id: string, ok: boolean, probe: boolean, requestId: string, code?: string): void {
    const transition = this.#outliers.onResult(id, ok, probe);
    if (transition === 'ejected') {
      this.#log.info({ requestId, endpoint: id, code }, 'endpoint ejected');
      this.#onEvent({ type: 'ejected', target: this.target, endpoint: id, ...(code ? { code } : {}) });
    } else if (transition === 'readmitted') {
      this.#log.info({ requestId, endpoint: id }, 'endpoint re-admitted');
      this.#onEvent({ type: 'readmitted', target: this.target, endpoint: id });
    }
  }

  #breakerResult(permit: BreakerPermit, ok: boolean | undefined, requestId: string): void {
    const transition = this.#breaker.onResult(permit, ok);
    if (transition === 'opened') {
      this.#log.warn({ requestId }, 'circuit breaker opened');
      this.#onEvent({ type: 'breaker-open', target: this.target });
    } else if (transition === 'closed') {
      this.#log.info({ requestId }, 'circuit breaker closed');
      this.#onEvent({ type: 'breaker-closed', target: this.target });
    }
  }

  #statsFor(id: string): EndpointStats {
    let stats = this.#stats.get(id);
    if (!stats) {
      stats = new EndpointStats(this.#now);
      this.#stats.set(id, stats);
    }
    return stats;
  }

  /** Drops the history of endpoints that are gone, once enough have gone to be worth a pass. */
  #prune(current: readonly GovernedEndpoint[]): void {
    if (this.#stats.size <= current.length * 2 + 16) return;
    const live = new Set(current.map((e) => e.id));
    for (const id of this.#stats.keys()) {
      if (live.has(id)) continue;
      this.#stats.delete(id);
      this.#outliers.forget(id);
    }
  }
}

/** The error a failed round reports: a definitive (non-retryable) one if any, else the last. */
function roundFailure(failures: ReadonlyArray<AttemptOutcome & { ok: false }>): AttemptOutcome {
  const definitive = failures.find((f) => !isRetryable(f.error.code));
  const chosen = definitive ?? failures.at(-1);
  if (!chosen) return { ok: false, error: new HearthError('HEARTH_ERR_INTERNAL'), notSent: false };
  return { ok: false, error: chosen.error, notSent: failures.every((f) => f.notSent) };
}

/** Like toHearthError, but keeps `details` of coded errors from another build or the wire. */
function asHearthError(err: unknown): HearthError {
  if (err instanceof HearthError) return err;
  const coded = err as { code?: unknown; message?: unknown; details?: unknown } | null;
  if (coded && isErrorCode(coded.code)) {
    const details = typeof coded.details === 'object' && coded.details !== null ? (coded.details as Record<string, unknown>) : undefined;
    return new HearthError(coded.code, typeof coded.message === 'string' ? coded.message : undefined, details, { cause: err });
  }
  return new HearthError('HEARTH_ERR_INTERNAL', undefined, undefined, { cause: err });
}
