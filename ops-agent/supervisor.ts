// The cluster primary's worker supervision. With SCHED_NONE the primary binds each listener once
// and every worker accepts on a duplicate of the same fd, so a crashed worker never closes a
// socket: the others keep accepting while it is forked again with exponential backoff. Workers
// come in generations (one build each): a hand-off starts the next generation while the active
// one still serves, makes it active, then retires the old one — the listeners stay bound
// throughout because a listener closes only when the last worker using it has left.
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { MetricJson, WorkerStatus } from '../upgrade/handoff-protocol.js';
import type { OpsMetrics } from './ops-metrics.js';
import type { WorkerState } from './worker-handle.js';
import type { HostQuotas } from './host-quotas.js';
import {
  DEFAULT_BACKOFF,
  WorkerGeneration,
  type BackoffOptions,
  type GenerationSpec,
  type RetireReport,
} from './upgrade/worker-generation.js';

export type { BackoffOptions, GenerationSpec, RetireReport };

export interface SupervisorOptions {
  readonly logger: Logger;
  readonly metrics: OpsMetrics;
  /** The host's per-app quotas every generation's workers lease from. */
  readonly quotas?: HostQuotas | undefined;
  /** Ready deadline of the first generation and of restarted workers. */
  readonly readyTimeoutMs?: number;
  readonly backoff?: Partial<BackoffOptions>;
}

export interface WorkerInfo {
  readonly id: number;
  readonly slot: number;
  readonly pid: number;
  readonly generation: number;
  readonly version: string;
  readonly state: WorkerState;
  readonly uptimeMs: number;
  readonly restarts: number;
}

export interface WorkerReport {
  readonly info: WorkerInfo;
  /** Absent when the worker did not answer (`error` says why). */
  readonly status?: WorkerStatus;
  readonly error?: string;
}

/** A worker of a generation that crashed while it was supposed to serve. */
export type CrashListener = (gen: WorkerGeneration) => void;

export interface LaunchOptions {
  readonly readyTimeoutMs?: number;
  /** How long a generation that failed gets to drain the workers that did become ready. */
  readonly drainMs?: number;
  /** Called once every worker is forked (before any is ready). */
  readonly onForked?: (pids: number[]) => void;
}

export class Supervisor {
  readonly #o: SupervisorOptions;
  readonly #log: Logger;
  readonly #backoff: BackoffOptions;
  readonly #readyTimeoutMs: number;
  readonly #live = new Set<WorkerGeneration>();
  readonly #crashListeners = new Set<CrashListener>();
  #active: WorkerGeneration | undefined;
  #stopping = false;
  #closing: Promise<void> | undefined;

  constructor(options: SupervisorOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'supervisor' });
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    // Must be set before the first fork: the policy is frozen by setupPrimary(). SCHED_NONE makes
    // the primary bind and hand the same fd to every worker, which accepts on it itself.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
  }

  /** The generation serving (the one readiness and the status refer to). */
  get active(): WorkerGeneration | undefined {
    return this.#active;
  }

  get generation(): number {
    return this.#active?.number ?? 0;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  onCrash(listener: CrashListener): () => void {
    this.#crashListeners.add(listener);
    return () => this.#crashListeners.delete(listener);
  }

  /**
   * Forks a generation next to whatever serves and resolves once all its workers are ready. On
   * any failure it is stopped (ready workers drained within drainMs, the rest killed) before the
   * error is thrown, so the active generation is left exactly as it was.
   */
  async launch(spec: GenerationSpec, options: LaunchOptions = {}): Promise<WorkerGeneration> {
    if (this.#stopping) throw new Error('the supervisor is shutting down');
    const gen = new WorkerGeneration(spec, {
      logger: this.#log,
      backoff: this.#backoff,
      readyTimeoutMs: this.#readyTimeoutMs,
      onChange: () => this.#updateGauge(),
      onCrash: (g) => {
        for (const l of this.#crashListeners) l(g);
      },
      onRestart: (slot) => this.#o.metrics.workerRestarts.inc({ slot: String(slot) }),
      onExit: (expected) => this.#o.metrics.workerExits.inc({ expected: String(expected) }),
      quotas: this.#o.quotas,
    });
    this.#live.add(gen);
    try {
      await gen.start(options.readyTimeoutMs ?? this.#readyTimeoutMs, options.onForked);
      if (this.#stopping) throw new Error('the supervisor is shutting down');
    } catch (err) {
      this.#log.warn({ generation: spec.generation, err }, 'generation failed to start; stopping it');
      await gen.retire(options.drainMs ?? 5_000);
      this.#live.delete(gen);
      this.#updateGauge();
      throw err;
    }
    return gen;
  }

  /** Makes `gen` the serving generation; returns the one it replaces. */
  activate(gen: WorkerGeneration): WorkerGeneration | undefined {
    const previous = this.#active;
    this.#active = gen;
    this.#log.info({ generation: gen.number, version: gen.version, replaces: previous?.number }, 'generation active');
    return previous;
  }

  /** Drains a generation within deadlineMs, then kills what is left; resolves when all exited. */
  async retire(gen: WorkerGeneration, deadlineMs: number): Promise<RetireReport> {
    const report = await gen.retire(deadlineMs);
    this.#live.delete(gen);
    if (this.#active === gen) this.#active = undefined;
    this.#updateGauge();
    this.#log.info({ generation: gen.number, ...report }, 'generation retired');
    return report;
  }

  #updateGauge(): void {
    const g = this.#o.metrics.workers;
    g.reset();
    for (const gen of this.#live) for (const h of gen.handles()) g.inc({ state: h.state, generation: String(h.generation) });
  }

  /** Every live worker process of every generation, oldest generation first, in slot order. */
  workers(): WorkerInfo[] {
    return [...this.#live]
      .sort((a, b) => a.number - b.number)
      .flatMap((gen) =>
        gen.handles().map((h) => ({
          id: h.worker.id,
          slot: h.slot,
          pid: h.pid,
          generation: h.generation,
          version: h.version,
          state: h.state,
          uptimeMs: Date.now() - h.forkedAt,
          restarts: gen.restartsOf(h.slot),
        })),
      );
  }

  /** Why the active generation is not fully up (empty when it is); component health is checked by the caller. */
  readinessProblems(): string[] {
    if (this.#stopping) return ['shutting down'];
    if (!this.#active) return ['starting'];
    return this.#active.readinessProblems();
  }

  #handles(): Map<number, ReturnType<WorkerGeneration['handles']>[number]> {
    return new Map([...this.#live].flatMap((g) => g.handles()).map((h) => [h.pid, h]));
  }

  /** Asks every live worker for its status; a worker that does not answer in time is reported, not waited for. */
  async collectStatus(timeoutMs: number): Promise<WorkerReport[]> {
    const infos = this.workers();
    const byPid = this.#handles();
    return Promise.all(
      infos.map(async (info): Promise<WorkerReport> => {
        const h = byPid.get(info.pid);
        if (!h || info.state === 'starting') return { info, error: info.state };
        try {
          return { info, status: await h.status(timeoutMs) };
        } catch (err) {
          this.#o.metrics.ipcFailures.inc({ request: 'status' });
          return { info, error: (err as Error).message };
        }
      }),
    );
  }

  /** prom-client JSON from every ready worker that answers in time. */
  async collectMetrics(timeoutMs: number): Promise<MetricJson[][]> {
    const ready = [...this.#handles().values()].filter((h) => h.state === 'ready');
    const results = await Promise.allSettled(ready.map((h) => h.metrics(timeoutMs)));
    const out: MetricJson[][] = [];
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled') {
        out.push([...r.value]);
      } else {
        this.#o.metrics.ipcFailures.inc({ request: 'metrics' });
        this.#log.warn({ pid: ready[i]?.pid, err: r.reason as Error }, 'no metrics from worker');
      }
    }
    return out;
  }

  /**
   * Graceful: no more restarts, every generation drained within deadlineMs, stragglers SIGKILLed.
   * Idempotent.
   */
  close(deadlineMs = 10_000): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopping = true;
      await Promise.all([...this.#live].map((g) => this.retire(g, deadlineMs)));
    })();
    return this.#closing;
  }

  /** Forced: SIGKILL every worker of every generation now. */
  destroy(): void {
    this.#stopping = true;
    for (const g of this.#live) g.destroy();
  }
}
