// The router of an agent worker: turns one checked invocation into the endpoints that could serve
// it, in three tiers — this worker's callback streams (0), the other workers of this agent (1),
// sibling agents on other hosts (2) — and lets the target's TargetGovernor pick, retry, hedge,
// eject and break between them.
//
// Key decisions:
// - The call's scope bounds the tiers (forward-policy.ts hopsFor): a call never bounces between
//   workers or agents.
// - Local short-circuit: when the target has instances on this worker the call is delivered to
//   them with no network hop (the governor prefers the lowest tier with a usable endpoint), and
//   the sibling list is only peeked at (never waited for) so the registry is off that path.
// - An endpoint that provably did not take the call says so (details.notSent), and a worker or
//   agent with no instance of the target says so quickly: the governor may then try elsewhere
//   even for a call that is not idempotent.
// - Between streams: when a call was sent nowhere because the target has no instance right now,
//   but had one a moment ago (a draining stream here, or a peer listed it recently: its stream is
//   being replaced during an upgrade), the call waits a little for the replacement and is routed
//   again, instead of failing. A target never seen fails at once.
// - Bounded per-target state: a target's governor is dropped after a while without calls (and the
//   least recently used go first past a cap), so an app invoking ids x1, x2, … cannot grow this
//   worker without limit; metrics label only targets this agent knows (declared here, listed by a
//   static peer or found in the registry), every other id counts under target="other".
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { CallOrigin, Cancellation, ForwardedCall, InvokeResult, InvokeRouter } from '../building-blocks/runtime-api.js';
import { HearthError, toHearthError } from '../errors/hearth-error.js';
import type { AgentMetrics } from '../observability/metrics.js';
import type { CallbackInstance } from '../app-channel/callback-instance.js';
import type { CallbackRegistry } from '../app-channel/callback-registry.js';
import type { ForwardChannel } from './forward-channel.js';
import { hopsFor } from './forward-policy.js';
import { TargetGovernor, type GovernanceEvent, type GovernedEndpoint } from './governance/target-governor.js';
import { signalCancellation } from './governance/abortable.js';
import type { PeerWorkers } from './peer-workers.js';
import type { SiblingAddress, SiblingDirectory } from './sibling-directory.js';
import type { SiblingPool } from './sibling-pool.js';

export interface MeshRouterOptions {
  readonly callbacks: CallbackRegistry;
  /** The other workers of this agent; absent with one worker (or in tests). */
  readonly peers?: PeerWorkers | undefined;
  /** Sibling agents; absent when none are configured. */
  readonly siblings?: { readonly directory: SiblingDirectory; readonly pool: SiblingPool } | undefined;
  readonly metrics?: AgentMetrics | undefined;
  readonly logger: Logger;
  /** The app ids declared in this agent's config: labelled by name in metrics. */
  readonly declaredApps?: readonly string[] | undefined;
  /** A target's governor is dropped after this long without a call (default 10 minutes). */
  readonly governorIdleMs?: number | undefined;
  /** At most this many governors; past it the least recently used idle one goes (default 10,000). */
  readonly maxGovernors?: number | undefined;
  /** For tests: the clock idleness is measured with. */
  readonly clock?: (() => number) | undefined;
}

/** One target's governor and what eviction needs to know about it. */
interface GovernorEntry {
  readonly governor: TargetGovernor;
  lastUsed: number;
  inFlight: number;
  /** The breaker gauge shows this target open: reset when the governor goes. */
  breakerShown: boolean;
}

const GOVERNOR_IDLE_MS = 10 * 60_000;
const MAX_GOVERNORS = 10_000;
/** The label of every target this agent does not know (metrics cardinality stays bounded). */
export const OTHER_TARGET_LABEL = 'other';

const TIER_NAMES = ['local', 'worker', 'sibling'] as const;
type TierName = (typeof TIER_NAMES)[number];

export class MeshRouter implements InvokeRouter {
  readonly #o: MeshRouterOptions;
  readonly #log: Logger;
  /** Map order is recency of use: the first entries are the least recently used. */
  readonly #governors = new Map<string, GovernorEntry>();
  readonly #declared: ReadonlySet<string>;
  readonly #idleMs: number;
  readonly #maxGovernors: number;
  readonly #now: () => number;
  #lastSweep: number;
  #closed = false;

  constructor(options: MeshRouterOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'mesh-router' });
    this.#declared = new Set(options.declaredApps ?? []);
    this.#idleMs = options.governorIdleMs ?? GOVERNOR_IDLE_MS;
    this.#maxGovernors = Math.max(1, options.maxGovernors ?? MAX_GOVERNORS);
    this.#now = options.clock ?? Date.now;
    this.#lastSweep = this.#now();
  }

  /** How many targets have a governor right now (bounded: see the header). */
  get governedTargets(): number {
    return this.#governors.size;
  }

  /** The metrics label of `target`: its id when this agent knows it, otherwise "other". */
  targetLabel(target: string): string {
    if (this.#declared.has(target) || this.#o.siblings?.directory.knows(target) === true) return target;
    return OTHER_TARGET_LABEL;
  }

  async route(call: ForwardedCall): Promise<InvokeResult> {
    const target = this.#o.metrics === undefined ? call.target : this.targetLabel(call.target);
    let answeredBy: TierName | 'none' = 'none';
    try {
      if (this.#closed) throw new HearthError('HEARTH_ERR_DRAINING', 'this agent worker is draining', { notSent: true });
      const cancellation = cancellationOf(call.origin);
      if (cancellation?.aborted === true) throw new HearthError('HEARTH_ERR_CANCELLED', 'the call was cancelled');
      const result = await this.#deliver(call, cancellation, (tier) => (answeredBy = tier));
      this.#o.metrics?.invokes.inc({ target, tier: answeredBy, code: 'OK' });
      // Set by the callback above (the compiler cannot see it).
      return (answeredBy as TierName | 'none') === 'worker' ? { ...result, viaPeerWorker: true } : result;
    } catch (err) {
      const e = toHearthError(err);
      this.#o.metrics?.invokes.inc({ target, tier: answeredBy, code: e.code });
      throw e;
    }
  }

  /** Through the governor; a target between streams is waited for (bounded), then routed again. */
  async #deliver(call: ForwardedCall, cancellation: Cancellation | undefined, answered: (tier: TierName) => void): Promise<InvokeResult> {
    const waitUntil = Math.min(Date.now() + BETWEEN_STREAMS_WAIT_MS, call.deadline - BETWEEN_STREAMS_MARGIN_MS);
    for (;;) {
      try {
        const siblings = await this.#siblingsFor(call);
        const endpoints = (): GovernedEndpoint[] => this.#endpoints(call, siblings, answered);
        if (endpoints().length === 0) throw this.#nowhere(call);
        const entry = this.#governor(call);
        entry.inFlight += 1;
        try {
          return await entry.governor.execute({
            endpoints,
            idempotent: call.idempotent,
            deadline: call.deadline,
            cancellation,
            requestId: call.origin.requestId,
          });
        } finally {
          entry.inFlight -= 1;
          entry.lastUsed = this.#now();
        }
      } catch (err) {
        const e = toHearthError(err);
        if (!this.#betweenStreams(call, e) || Date.now() + BETWEEN_STREAMS_POLL_MS > waitUntil || cancellation?.aborted === true) throw e;
        call.origin.logger.debug({ target: call.target, code: e.code }, 'no instance of the target right now, but it had one a moment ago: waiting for its next stream');
        await sleep(BETWEEN_STREAMS_POLL_MS);
        if (this.#closed) throw e;
        await this.#o.peers?.refreshOnMiss();
      }
    }
  }

  /** Nothing was sent because no instance took it, yet the target had one a moment ago. */
  #betweenStreams(call: ForwardedCall, e: HearthError): boolean {
    if (e.details?.notSent !== true || !hopsFor(call.scope).workers) return false;
    if (e.code !== 'HEARTH_ERR_APP_UNAVAILABLE' && e.code !== 'HEARTH_ERR_AGENT_UNAVAILABLE') return false;
    return this.#o.callbacks.instances(call.target).length > 0 || this.#o.peers?.seenRecently(call.target) === true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#o.peers?.close(), this.#o.siblings?.directory.close(), this.#o.siblings?.pool.close()]);
  }

  /** Sibling addresses for this call: none unless its scope allows siblings; waited for only when nothing closer exists. */
  async #siblingsFor(call: ForwardedCall): Promise<readonly SiblingAddress[]> {
    const s = this.#o.siblings;
    const peers = this.#o.peers;
    const localOpen = this.#local(call.target).length > 0;
    // Not here: learn what changed among the other workers (a stream that just opened there).
    const hops = hopsFor(call.scope);
    if (!localOpen && peers !== undefined && hops.workers) {
      if (peers.holding(call.target).length === 0) await peers.readNow(call.target);
      else await peers.current();
    }
    if (s === undefined || !hops.siblings) return [];
    const found =
      localOpen || (peers?.holding(call.target).length ?? 0) > 0
        ? s.directory.peek(call.target)
        : await withinBudget(s.directory.lookup(call.target), call.deadline, () => s.directory.peek(call.target));
    // Still listed: the pool keeps their channels (the others it closes after a while).
    s.pool.seen(found);
    return found;
  }

  #endpoints(call: ForwardedCall, siblings: readonly SiblingAddress[], answered: (tier: TierName) => void): GovernedEndpoint[] {
    const out: GovernedEndpoint[] = [];
    for (const instance of this.#local(call.target)) {
      out.push(this.#endpoint(call, `local:${instance.id}`, 0, answered, (_attempt, signal) => deliverLocal(instance, call, signal)));
    }
    const peers = this.#o.peers;
    if (peers !== undefined && hopsFor(call.scope).workers) {
      for (const p of peers.holding(call.target)) {
        out.push(
          this.#endpoint(call, `worker:${p.pid}`, 1, answered, (attempt, signal) =>
            forward(p.channel, call, attempt, signal, () => {
              // Its socket refused us: the worker is gone; find out who is there now.
              peers.forget(p.pid);
              void peers.refreshOnMiss();
            }),
          ),
        );
      }
    }
    const pool = this.#o.siblings?.pool;
    if (pool !== undefined) {
      for (const a of siblings) {
        out.push(this.#endpoint(call, `sibling:${a.name}`, 2, answered, (attempt, signal) => forward(pool.channel(a), call, attempt, signal)));
      }
    }
    return out;
  }

  /** Wraps one endpoint's send with its attempt metric and the "who answered" mark. */
  #endpoint(
    call: ForwardedCall,
    id: string,
    tier: 0 | 1 | 2,
    answered: (tier: TierName) => void,
    send: (attempt: number, signal: AbortSignal) => Promise<InvokeResult>,
  ): GovernedEndpoint {
    const name = TIER_NAMES[tier];
    const metrics = this.#o.metrics;
    const target = metrics === undefined ? call.target : this.targetLabel(call.target);
    return {
      id,
      tier,
      send: async (attempt, signal) => {
        try {
          const result = await send(attempt, signal);
          metrics?.invokeAttempts.inc({ target, tier: name, code: 'OK' });
          answered(name);
          return result;
        } catch (err) {
          const e = toHearthError(err);
          metrics?.invokeAttempts.inc({ target, tier: name, code: e.code });
          throw e;
        }
      },
    };
  }

  /** Tier 0: this worker's instances that take new invocations (a draining one only finishes its own). */
  #local(appId: string): CallbackInstance[] {
    return this.#o.callbacks.instances(appId).filter((i) => i.available);
  }

  #nowhere(call: ForwardedCall): HearthError {
    const where = call.scope === 'worker' ? 'this worker' : call.scope === 'host' ? 'this host' : 'this host or any sibling agent';
    // notSent: the caller's agent may try another worker or sibling, even for a non-idempotent call.
    return new HearthError('HEARTH_ERR_APP_UNAVAILABLE', `no instance of app "${call.target}" is connected to ${where}`, { notSent: true });
  }

  /** The target's governor, created on first use and moved to the most recently used end. */
  #governor(call: ForwardedCall): GovernorEntry {
    const now = this.#now();
    if (now - this.#lastSweep >= Math.min(this.#idleMs, 60_000)) this.#sweep(now);
    const target = call.target;
    let entry = this.#governors.get(target);
    if (entry === undefined) {
      const created: GovernorEntry = {
        governor: new TargetGovernor(target, call.policy, {
          // The governor binds {component, target} itself: binding them here too repeats the keys.
          logger: this.#log,
          onEvent: (event) => this.#onGovernorEvent(target, created, event),
        }),
        lastUsed: now,
        inFlight: 0,
        breakerShown: false,
      };
      entry = created;
      if (this.#governors.size >= this.#maxGovernors) this.#evictOldest();
    } else {
      this.#governors.delete(target);
      entry.lastUsed = now;
    }
    this.#governors.set(target, entry);
    return entry;
  }

  /** Drops the governors with no call in flight and none for governorIdleMs. */
  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [target, entry] of this.#governors) {
      if (entry.inFlight === 0 && now - entry.lastUsed >= this.#idleMs) this.#drop(target, entry);
    }
  }

  /** Past the cap: the least recently used governor with nothing in flight goes. */
  #evictOldest(): void {
    for (const [target, entry] of this.#governors) {
      if (entry.inFlight === 0) {
        this.#drop(target, entry);
        return;
      }
    }
  }

  #drop(target: string, entry: GovernorEntry): void {
    this.#governors.delete(target);
    // A new governor starts closed; a gauge left at "open" would lie about it.
    // (Under "other" the gauge is shared by every unknown target: left as it is.)
    const label = this.targetLabel(target);
    if (entry.breakerShown && label !== OTHER_TARGET_LABEL) this.#o.metrics?.invokeBreaker.set({ target: label }, 0);
  }

  #onGovernorEvent(appId: string, entry: GovernorEntry, event: GovernanceEvent): void {
    const m = this.#o.metrics;
    if (m === undefined) return;
    const target = this.targetLabel(appId);
    if (event.type === 'breaker-open' || event.type === 'breaker-closed') entry.breakerShown = event.type === 'breaker-open';
    switch (event.type) {
      case 'retry':
        m.invokeRetries.inc({ target });
        return;
      case 'hedge':
        m.invokeHedges.inc({ target });
        return;
      case 'ejected':
        m.invokeEjections.inc({ target, tier: tierOf(event.endpoint ?? '') });
        return;
      case 'breaker-open':
        m.invokeBreaker.set({ target }, 2);
        return;
      case 'breaker-closed':
        m.invokeBreaker.set({ target }, 0);
        return;
      default:
        return;
    }
  }
}

function tierOf(endpointId: string): string {
  return endpointId.slice(0, Math.max(0, endpointId.indexOf(':'))) || 'unknown';
}

/** How long a call to a target between streams may wait for its next one, at most. */
const BETWEEN_STREAMS_WAIT_MS = 2_000;
const BETWEEN_STREAMS_POLL_MS = 25;
/** The wait leaves this much of the budget, so the caller hears APP_UNAVAILABLE rather than TIMEOUT. */
const BETWEEN_STREAMS_MARGIN_MS = 100;

/** A registry that does not answer (Redis hanging) must not hold the call past its budget: fall back. */
const LOOKUP_WAIT_MAX_MS = 1_000;
async function withinBudget<T>(p: Promise<T>, deadline: number, fallback: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback()), Math.max(0, Math.min(LOOKUP_WAIT_MAX_MS, deadline - Date.now())));
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A local instance that is gone or full did not take the call: notSent lets the governor move on. */
/** The origin's Cancellation; from its AbortSignal only when it has no Cancellation (no transport call core). */
function cancellationOf(origin: CallOrigin): Cancellation | undefined {
  return origin.cancellation ?? (origin.signal === undefined ? undefined : signalCancellation(origin.signal));
}

function deliverLocal(instance: CallbackInstance, call: ForwardedCall, signal: AbortSignal): Promise<InvokeResult> {
  if (!instance.available) {
    return Promise.reject(new HearthError('HEARTH_ERR_APP_UNAVAILABLE', `an instance of app "${call.target}" closed or is draining its stream`, { notSent: true }));
  }
  if (instance.full) {
    return Promise.reject(
      new HearthError('HEARTH_ERR_RESOURCE_EXHAUSTED', `an instance of app "${call.target}" is at its concurrency limit`, { notSent: true }),
    );
  }
  return instance.invoke(call, signal);
}

async function forward(
  channel: ForwardChannel,
  call: ForwardedCall,
  attempt: number,
  signal: AbortSignal,
  onUnreachable?: () => void,
): Promise<InvokeResult> {
  try {
    return await channel.forward(call, attempt, signal);
  } catch (err) {
    const e = toHearthError(err);
    if (e.code === 'HEARTH_ERR_AGENT_UNAVAILABLE' && e.details?.notSent === true) onUnreachable?.();
    throw e;
  }
}
