// The SDK transport that keeps an app's outbound calls flowing when its local agent fails: calls
// go to the local agent (wire.sock) while it is healthy, to the best reachable sibling agent over
// TCP+TLS when it is not, and back to the local agent once it has been healthy for a while.
//
// Key decisions:
// - One switch at a time. Whatever notices trouble first (a call's lost connection, the
//   connection's close or Goaway, the heartbeat) starts it; calls arriving meanwhile wait for it
//   (bounded by their deadline) instead of failing.
// - A switch probes the local agent on a *fresh* connection and every sibling at once: a draining
//   agent's successor generation answers on the same socket, so a drain with a successor keeps
//   calls local; only a dead, hung or successor-less draining agent moves them.
// - Replay follows replay-policy.ts; streams end with a retryable error and are reopened by the
//   layer above (failover-stream.ts).
import { EventEmitter } from 'node:events';
import { agentUnavailable, type HearthClientError, type ProtocolLogger as SdkLogger, silentLogger } from '@hearth/protocol';
import type { CallOptions, SdkStream, SdkTransport, SdkTransportFactory } from '../transport.js';
import { closeQuietly, pingWithin, selectAgent, type Choice } from './agent-probe.js';
import type { FailoverEvent, FailoverState, FailoverStats, FailoverTransportEvents } from './failover-events.js';
import { FailoverStream } from './failover-stream.js';
import { DEFAULT_FAILOVER_TIMINGS, type FailoverTimings } from './failover-timings.js';
import { HealthMonitor, type HealthVerdict } from './health-monitor.js';
import { RecoveryWatch } from './recovery-watch.js';
import { TransportUsage } from './transport-usage.js';
import { interrupted, isAgentFailure, mayReplay } from './replay-policy.js';
import { normalizeSiblings, type SiblingEndpoint, type SiblingEndpointInput } from './sibling-list.js';
import { waitForSwitch } from './switch-wait.js';

export { DEFAULT_FAILOVER_TIMINGS, type FailoverTimings } from './failover-timings.js';

export interface FailoverTransportOptions {
  /** A new connection to the local agent (wire.sock) per call: failover probes with fresh ones. */
  readonly local: SdkTransportFactory;
  /** Ranked: earlier is preferred; equal `priority` is ordered by ping round trip. */
  readonly siblings: readonly (SiblingEndpointInput | string)[];
  /** A transport to a sibling's TLS port, presenting the app's id (caller) and token. */
  readonly connectSibling: (endpoint: SiblingEndpoint) => SdkTransport;
  readonly logger?: SdkLogger;
  readonly timings?: Partial<FailoverTimings>;
}

interface Active {
  readonly transport: SdkTransport;
  readonly kind: 'local' | 'sibling';
  /** Set for a sibling. */
  readonly endpoint: SiblingEndpoint | undefined;
  readonly monitor: HealthMonitor;
  readonly detach: () => void;
}

type Counters = { -readonly [K in 'failovers' | 'failbacks' | 'localReconnects' | 'replayed' | 'interrupted' | 'unavailable' | 'streamsMoved']: number };

export function createFailoverTransport(options: FailoverTransportOptions): FailoverTransport {
  return new FailoverTransport(options);
}

export class FailoverTransport extends EventEmitter implements SdkTransport {
  readonly #local: SdkTransportFactory;
  readonly #siblings: readonly SiblingEndpoint[];
  readonly #connectSibling: (endpoint: SiblingEndpoint) => SdkTransport;
  readonly #timings: FailoverTimings;
  readonly #logger: SdkLogger;
  readonly #counters: Counters = { failovers: 0, failbacks: 0, localReconnects: 0, replayed: 0, interrupted: 0, unavailable: 0, streamsMoved: 0 };
  readonly #usage: TransportUsage;
  readonly #streams = new Set<FailoverStream>();
  #active: Active | undefined;
  #switching: Promise<void> | undefined;
  #recovery: RecoveryWatch | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #lastRejected: readonly string[] = [];
  #lastFailover: FailoverEvent | undefined;
  #lastFailback: FailoverEvent | undefined;
  #closed = false;

  constructor(options: FailoverTransportOptions) {
    super();
    this.#local = options.local;
    this.#siblings = normalizeSiblings(options.siblings);
    this.#connectSibling = options.connectSibling;
    this.#timings = { ...DEFAULT_FAILOVER_TIMINGS, ...options.timings };
    this.#usage = new TransportUsage(this.#timings.retireGraceMs);
    this.#logger = (options.logger ?? silentLogger).child({ component: 'failover' });
    let local: SdkTransport | undefined;
    try {
      local = this.#local();
    } catch (err) {
      this.#logger.warn({ err }, 'cannot create the local transport; looking for an agent');
    }
    // The heartbeat finds out soon enough if the local agent is not there at all.
    if (local) this.#activate(local, 'local', undefined);
    else this.#startSwitch('local transport unavailable', Date.now());
  }

  get name(): string {
    return `failover(${this.#active?.transport.name ?? 'none'})`;
  }

  stats(): FailoverStats {
    return {
      state: this.#state(),
      current: this.#active?.transport.name,
      ...this.#counters,
      lastFailover: this.#lastFailover,
      lastFailback: this.#lastFailback,
    };
  }

  async unary(method: string, request: object, options: CallOptions): Promise<object> {
    const deadlineAt = options.deadlineMs ? Date.now() + options.deadlineMs : undefined;
    const maxReplays = this.#siblings.length + 2;
    let mayHaveRun = false;
    for (let replays = 0; ; replays += 1) {
      const transport = await this.#ready(deadlineAt, options.signal, mayHaveRun);
      const remaining = deadlineAt === undefined ? undefined : deadlineAt - Date.now();
      this.#usage.begin(transport);
      try {
        return await transport.unary(method, request, {
          ...options,
          ...(remaining === undefined ? {} : { deadlineMs: Math.max(1, remaining) }),
          attempt: (options.attempt ?? 0) + replays,
        });
      } catch (err) {
        if (!isAgentFailure(err)) throw err;
        this.#onAgentFailure(transport, err);
        if (!mayReplay(err, options, deadlineAt, Date.now())) {
          this.#counters.interrupted += 1;
          this.#logger.warn({ method, agent: transport.name }, 'call interrupted: in flight when its agent failed, not safe to replay');
          throw interrupted(method, transport.name, err);
        }
        if (replays >= maxReplays) throw err;
        mayHaveRun ||= err.sent;
        this.#counters.replayed += 1;
        this.#logger.debug({ method, agent: transport.name, sent: err.sent, code: err.code }, 'replaying a call whose agent failed');
      } finally {
        this.#usage.end(transport);
      }
    }
  }

  stream(method: string, first: object, options: CallOptions): SdkStream {
    const deadlineAt = options.deadlineMs ? Date.now() + options.deadlineMs : undefined;
    // The transport this stream is counted on, so a retired connection stays open under it.
    let using: SdkTransport | undefined;
    const release = (): void => {
      if (using) this.#usage.end(using);
      using = undefined;
    };
    const stream = new FailoverStream({
      open: async () => {
        const transport = await this.#ready(deadlineAt, options.signal, false);
        release();
        using = transport;
        this.#usage.begin(transport);
        return { transport, inner: transport.stream(method, first, options) };
      },
      agentFailed: (transport, err) => this.#onAgentFailure(transport, err),
      mayReopen: (attempt) => attempt <= this.#siblings.length + 2,
      settled: (s) => {
        release();
        this.#streams.delete(s);
      },
    });
    this.#streams.add(stream);
    return stream;
  }

  async ping(timeoutMs: number): Promise<{ rttMs: number; draining: boolean }> {
    const transport = await this.#ready(Date.now() + timeoutMs, undefined, false);
    return pingWithin(transport, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#recovery?.stop();
    for (const stream of this.#streams) stream.cancel();
    const active = this.#active;
    this.#active = undefined;
    active?.monitor.stop();
    active?.detach();
    await Promise.all([this.#usage.closeAll(), active?.transport.close().catch(() => undefined)]);
    this.emit('close');
  }

  override on<E extends keyof FailoverTransportEvents>(event: E, listener: FailoverTransportEvents[E]): this {
    return super.on(event, listener);
  }

  override off<E extends keyof FailoverTransportEvents>(event: E, listener: FailoverTransportEvents[E]): this {
    return super.off(event, listener);
  }

  /** The transport calls go to now; waits for a switch in progress. */
  async #ready(deadlineAt: number | undefined, signal: AbortSignal | undefined, mayHaveRun: boolean): Promise<SdkTransport> {
    // Whether a look for an agent finished since this call arrived: then "none" is a fresh answer.
    let looked = false;
    for (;;) {
      if (this.#closed) throw agentUnavailable('the client is closed', false);
      if (this.#switching) {
        await waitForSwitch(this.#switching, deadlineAt, signal, mayHaveRun);
        looked = true;
        continue;
      }
      if (this.#active) return this.#active.transport;
      // No agent answered at the last look: look again now, once, rather than fail a call that
      // arrives just as an agent comes back.
      if (!looked) {
        this.#startSwitch('looking for an agent', Date.now());
        continue;
      }
      this.#counters.unavailable += 1;
      throw agentUnavailable(`neither the local agent nor any sibling is reachable (${this.#lastRejected.join('; ') || 'no siblings configured'})`, mayHaveRun);
    }
  }

  #activate(transport: SdkTransport, kind: 'local' | 'sibling', endpoint: SiblingEndpoint | undefined): void {
    const monitor = new HealthMonitor(
      transport,
      { intervalMs: this.#timings.heartbeatIntervalMs, timeoutMs: this.#timings.heartbeatTimeoutMs, misses: this.#timings.heartbeatMisses },
      (verdict) => this.#failed(transport, reasonOf(verdict), verdict.since),
    );
    const onClose = (): void => this.#failed(transport, 'connection lost', Date.now());
    const onGoaway = (g: { code: string }): void =>
      this.#failed(transport, g.code === 'HEARTH_ERR_DRAINING' ? 'draining' : `goaway ${g.code}`, Date.now());
    transport.on('close', onClose);
    transport.on('goaway', onGoaway);
    const detach = (): void => {
      transport.off('close', onClose);
      transport.off('goaway', onGoaway);
    };
    this.#active = { transport, kind, endpoint, monitor, detach };
    monitor.start();
  }

  #onAgentFailure(transport: SdkTransport, err: HearthClientError): void {
    this.#failed(transport, err.code === 'HEARTH_ERR_DRAINING' ? 'draining' : 'connection lost', Date.now());
  }

  /** Trouble on `transport`: switch, unless it is no longer the one in use or a switch runs. */
  #failed(transport: SdkTransport, reason: string, since: number): void {
    if (this.#closed || this.#switching || this.#active?.transport !== transport) return;
    this.#startSwitch(reason, since);
  }

  #startSwitch(reason: string, since: number): void {
    const run = this.#switch(reason, since).catch((err: unknown) => this.#logger.error({ err }, 'failover switch failed'));
    const current: Promise<void> = run.finally(() => {
      if (this.#switching === current) this.#switching = undefined;
    });
    this.#switching = current;
  }

  async #switch(reason: string, since: number): Promise<void> {
    const from = this.#active;
    this.#active = undefined;
    clearTimeout(this.#retryTimer);
    if (from) {
      from.monitor.stop();
      from.detach();
    }
    this.#recovery?.stop();
    this.#recovery = undefined;
    // Every candidate on a fresh connection, the one that just failed too: a dropped connection to
    // a healthy agent must not cost an outage, and a dead one fails its probe at once.
    const { choice, rejected } = await selectAgent({
      local: this.#local,
      siblings: this.#siblings,
      connectSibling: this.#connectSibling,
      timeoutMs: this.#timings.probeTimeoutMs,
      localTimeoutMs: Math.min(this.#timings.heartbeatTimeoutMs, this.#timings.probeTimeoutMs),
    });
    this.#lastRejected = rejected;
    if (this.#closed) {
      if (choice) closeQuietly(choice.probe.transport);
      return;
    }
    const movedAgent = choice === undefined || choice.kind !== from?.kind || from.kind === 'sibling';
    if (from) this.#retire(from.transport, movedAgent);
    if (!choice) return this.#enterUnavailable(from, reason, rejected);
    this.#adopt(choice, from, reason, since);
  }

  #adopt(choice: Choice, from: Active | undefined, reason: string, since: number): void {
    this.#activate(choice.probe.transport, choice.kind, choice.kind === 'sibling' ? choice.endpoint : undefined);
    const to = choice.probe.transport.name;
    const fromName = from?.transport.name ?? 'none';
    if (choice.kind === 'local' && from?.kind === 'local') {
      this.#counters.localReconnects += 1;
      this.#logger.info({ reason, agent: to }, 'the local agent answers on a new connection (successor generation); staying local');
      return;
    }
    const event: FailoverEvent = {
      from: fromName,
      to,
      reason: choice.kind === 'sibling' && reason === 'draining' ? 'draining without successor' : reason,
      at: Date.now(),
      detectionMs: Date.now() - since,
    };
    if (choice.kind === 'local') {
      this.#counters.failbacks += 1;
      this.#lastFailback = event;
      this.#logger.info({ ...event }, 'failback: calls go to the local agent again');
      this.emit('failback', event);
    } else {
      this.#counters.failovers += 1;
      this.#lastFailover = event;
      this.#logger.warn({ ...event }, 'failover: calls go to a sibling agent');
      this.emit('failover', event);
      this.#watchLocal();
    }
  }

  /** While calls go to a sibling, wait for the local agent to be steadily healthy, then go back. */
  #watchLocal(): void {
    const t = this.#timings;
    const watch = new RecoveryWatch(
      this.#local,
      { intervalMs: t.heartbeatIntervalMs, timeoutMs: t.heartbeatTimeoutMs, pings: t.failbackPings, afterMs: t.failbackAfterMs },
      (transport, rttMs, healthySince) => {
        if (this.#recovery !== watch) return closeQuietly(transport);
        this.#recovery = undefined;
        if (this.#closed || this.#switching || !this.#active) return closeQuietly(transport);
        const from = this.#active;
        from.monitor.stop();
        from.detach();
        this.#retire(from.transport, true);
        this.#active = undefined;
        this.#adopt({ kind: 'local', probe: { transport, rttMs, draining: false } }, from, 'local agent healthy', healthySince);
      },
    );
    this.#recovery = watch;
    watch.start();
  }

  #enterUnavailable(from: Active | undefined, reason: string, rejected: readonly string[]): void {
    const event = { from: from?.transport.name ?? 'none', reason, at: Date.now(), rejected };
    this.#logger.error({ ...event }, 'no agent reachable: calls fail with HEARTH_ERR_AGENT_UNAVAILABLE until one answers');
    this.emit('unavailable', event);
    this.#retryTimer = setTimeout(() => {
      if (!this.#closed && !this.#active && !this.#switching) this.#startSwitch(reason, Date.now());
    }, this.#timings.retryIntervalMs);
    this.#retryTimer.unref();
  }

  /** Calls left `transport`: close it when its last call ends; end its streams if the agent changed. */
  #retire(transport: SdkTransport, movedAgent: boolean): void {
    if (movedAgent) {
      for (const stream of this.#streams) {
        if (stream.transport !== transport) continue;
        this.#counters.streamsMoved += 1;
        stream.interrupt(agentUnavailable(`calls moved away from ${transport.name}; open the stream again`, true));
      }
    }
    this.#usage.retire(transport);
  }

  #state(): FailoverState {
    if (this.#closed) return 'closed';
    // A switch clears #active first and sets it when done, before its promise settles.
    if (this.#active) return this.#active.kind;
    return this.#switching ? 'switching' : 'unavailable';
  }
}

function reasonOf(verdict: HealthVerdict): string {
  if (verdict.kind === 'draining') return 'draining';
  if (verdict.kind === 'unresponsive') return 'unresponsive (heartbeat missed)';
  return 'connection lost';
}

