// The cluster primary's worker supervision. With SCHED_NONE the primary binds each listener once
// and every worker accepts on a duplicate of the same fd, so a crashed worker never closes a
// socket: the others keep accepting while it is forked again with exponential backoff.
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { MetricJson, WorkerStatus } from '../upgrade/handoff-protocol.js';
import type { OpsMetrics } from './ops-metrics.js';
import { WorkerHandle, WorkerStartError, type WorkerState } from './worker-handle.js';
import { OpsError, type OpsErrorCode } from './ops-errors.js';

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A worker that stayed ready this long resets its slot's backoff. */
  readonly stableMs: number;
}

export interface SupervisorOptions {
  /** dist/agent/main.js of the build to run. */
  readonly exec: string;
  readonly workers: number;
  readonly generation: number;
  readonly version: string;
  /** Merged over the primary's environment for every fork. */
  readonly env: Readonly<Record<string, string>>;
  readonly logger: Logger;
  readonly metrics: OpsMetrics;
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

interface Slot {
  readonly index: number;
  worker: WorkerHandle | undefined;
  restarts: number;
  delayMs: number;
  timer: NodeJS.Timeout | undefined;
}

export class StartError extends OpsError {
  constructor(code: OpsErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'StartError';
  }
}

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 30_000, stableMs: 60_000 };

export class Supervisor {
  readonly #o: SupervisorOptions;
  readonly #log: Logger;
  readonly #backoff: BackoffOptions;
  readonly #readyTimeoutMs: number;
  readonly #slots: Slot[];
  readonly #all = new Set<WorkerHandle>();
  #started = false;
  #stopping = false;
  #closing: Promise<void> | undefined;

  constructor(options: SupervisorOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'supervisor' });
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    this.#slots = Array.from({ length: options.workers }, (_, i) => ({
      index: i + 1,
      worker: undefined,
      restarts: 0,
      delayMs: 0,
      timer: undefined,
    }));
    // Must be set before the first fork: the policy is frozen by setupPrimary(). SCHED_NONE makes
    // the primary bind and hand the same fd to every worker (DESIGN.md "Processes").
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: options.exec, args: [], silent: false });
  }

  get generation(): number {
    return this.#o.generation;
  }

  /** Forks every worker and resolves once all are ready; otherwise kills them and throws StartError. */
  async start(): Promise<void> {
    if (this.#stopping) throw new StartError('HEARTH_ERR_DRAINING', 'shutdown requested while starting');
    if (this.#started) throw new Error('Supervisor.start() called twice');
    const handles = this.#slots.map((slot) => this.#fork(slot));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StartError('HEARTH_ERR_TIMEOUT', `workers were not ready within ${this.#readyTimeoutMs} ms`)),
        this.#readyTimeoutMs,
      );
    });
    try {
      await Promise.race([
        Promise.all(
          handles.map((h) =>
            h.ready.catch((err: unknown) => {
              const code = err instanceof WorkerStartError ? err.code : 'HEARTH_ERR_INTERNAL';
              const verb = code === 'HEARTH_ERR_WORKER_START_FAILED' ? 'failed to start: ' : '';
              throw new StartError(code, `worker ${h.slot} (pid ${h.pid}) ${verb}${(err as Error).message}`, err instanceof WorkerStartError ? err.details : undefined);
            }),
          ),
        ),
        timeout,
      ]);
    } catch (err) {
      this.#stopping = true;
      await this.#killAll(5_000);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (this.#stopping) throw new StartError('HEARTH_ERR_DRAINING', 'shutdown requested while starting');
    this.#started = true;
    this.#log.info({ workers: handles.map((h) => h.pid) }, 'all workers ready');
  }

  #fork(slot: Slot): WorkerHandle {
    const env = {
      ...this.#o.env,
      HEARTH_GENERATION: String(this.#o.generation),
      HEARTH_VERSION: this.#o.version,
    };
    const worker = cluster.fork(env);
    const handle = new WorkerHandle(worker, slot.index, this.#o.generation, this.#o.version, this.#log);
    slot.worker = handle;
    this.#all.add(handle);
    this.#updateGauge();
    this.#log.info({ slot: slot.index, pid: handle.pid, workerId: worker.id, restarts: slot.restarts }, 'worker forked');

    // A restarted worker that never becomes ready is killed, and its slot backs off further.
    const readyTimer = setTimeout(() => {
      if (handle.state === 'starting' && this.#started && !this.#stopping) {
        this.#log.error({ slot: slot.index, pid: handle.pid, timeoutMs: this.#readyTimeoutMs }, 'worker not ready in time; killing it');
        handle.kill('SIGKILL');
      }
    }, this.#readyTimeoutMs);
    handle.ready.then(
      () => {
        clearTimeout(readyTimer);
        this.#updateGauge();
      },
      () => clearTimeout(readyTimer),
    );
    void handle.exited.then((exit) => {
      clearTimeout(readyTimer);
      this.#all.delete(handle);
      this.#onExit(slot, handle, exit.code, exit.signal);
    });
    return handle;
  }

  #onExit(slot: Slot, handle: WorkerHandle, code: number | null, signal: string | null): void {
    const uptimeMs = Date.now() - handle.forkedAt;
    const expected = this.#stopping;
    this.#o.metrics.workerExits.inc({ expected: String(expected) });
    this.#updateGauge();
    const fields = { slot: slot.index, pid: handle.pid, workerId: handle.worker.id, code, signal, uptimeMs };
    if (expected) {
      this.#log.info(fields, 'worker exited');
    } else {
      this.#log.error(fields, 'worker exited unexpectedly');
    }
    if (slot.worker === handle) slot.worker = undefined;
    if (!this.#started || this.#stopping) return;

    const stable = handle.readyAt !== undefined && Date.now() - handle.readyAt >= this.#backoff.stableMs;
    slot.delayMs =
      stable || slot.delayMs === 0 ? this.#backoff.initialMs : Math.min(slot.delayMs * 2, this.#backoff.maxMs);
    slot.restarts += 1;
    this.#o.metrics.workerRestarts.inc({ slot: String(slot.index) });
    this.#log.warn({ slot: slot.index, delayMs: slot.delayMs, restarts: slot.restarts }, 'restarting worker');
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!this.#stopping) this.#fork(slot);
    }, slot.delayMs);
  }

  #updateGauge(): void {
    const g = this.#o.metrics.workers;
    g.reset();
    for (const h of this.#all) g.inc({ state: h.state, generation: String(h.generation) });
  }

  /** Every live worker process, in slot order. */
  workers(): WorkerInfo[] {
    return [...this.#all]
      .sort((a, b) => a.slot - b.slot || a.forkedAt - b.forkedAt)
      .map((h) => ({
        id: h.worker.id,
        slot: h.slot,
        pid: h.pid,
        generation: h.generation,
        version: h.version,
        state: h.state,
        uptimeMs: Date.now() - h.forkedAt,
        restarts: this.#slots[h.slot - 1]?.restarts ?? 0,
      }));
  }

  /** Why the active generation is not fully up (empty when it is); component health is checked by the caller. */
  readinessProblems(): string[] {
    if (this.#stopping) return ['shutting down'];
    if (!this.#started) return ['starting'];
    const problems: string[] = [];
    for (const slot of this.#slots) {
      const w = slot.worker;
      if (!w) problems.push(`worker slot ${slot.index}: no worker (restarting, attempt ${slot.restarts})`);
      else if (w.state !== 'ready') problems.push(`worker slot ${slot.index} (pid ${w.pid}): ${w.state}`);
    }
    return problems;
  }

  /** Asks every live worker for its status; a worker that does not answer in time is reported, not waited for. */
  async collectStatus(timeoutMs: number): Promise<WorkerReport[]> {
    const infos = this.workers();
    const byPid = new Map([...this.#all].map((h) => [h.pid, h]));
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
    const ready = [...this.#all].filter((h) => h.state === 'ready');
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
   * Graceful: no more restarts, `drain` to every worker, wait up to deadlineMs for them to exit,
   * then SIGKILL stragglers. Idempotent.
   */
  close(deadlineMs = 10_000): Promise<void> {
    this.#closing ??= this.#drainAll(deadlineMs);
    return this.#closing;
  }

  async #drainAll(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    this.#cancelRestarts();
    const live = [...this.#all];
    if (live.length === 0) return;
    // Workers get most of the budget, so they exit on their own before we kill them.
    const workerDeadline = Math.max(0, Math.floor(deadlineMs * 0.8));
    this.#log.info({ workers: live.map((h) => h.pid), deadlineMs: workerDeadline }, 'draining workers');
    for (const h of live) h.drain(workerDeadline);
    this.#updateGauge();
    const allExited = await exitWithin(live, deadlineMs);
    if (!allExited) {
      const stragglers = live.filter((h) => h.alive);
      this.#log.warn({ workers: stragglers.map((h) => h.pid) }, 'workers did not exit in time; killing them');
      await this.#killAll(5_000);
    }
  }

  /** Forced: SIGKILL every worker now. */
  destroy(): void {
    this.#stopping = true;
    this.#cancelRestarts();
    for (const h of this.#all) h.kill('SIGKILL');
  }

  async #killAll(waitMs: number): Promise<void> {
    this.destroy();
    await exitWithin([...this.#all], waitMs);
  }

  #cancelRestarts(): void {
    for (const slot of this.#slots) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.timer = undefined;
    }
  }
}

async function exitWithin(handles: readonly WorkerHandle[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([Promise.all(handles.map((h) => h.exited)).then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
