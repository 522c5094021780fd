// One generation of agent workers: N slots forked from one build (exec + version) with one
// generation number. Generations coexist during a hand-off, so each one points the cluster at its
// own build right before every fork it makes — `cluster.setupPrimary({ exec })` is process-wide,
// and a crash restart of the old generation in the middle of an upgrade must fork the old build.
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { HostQuotas } from '../host-quotas.js';
import { WorkerHandle, WorkerStartError } from '../worker-handle.js';
import { OpsError, type OpsErrorCode } from '../ops-errors.js';
import { STRICT_START_ENV } from '../../upgrade/handoff-protocol.js';

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A worker that stayed ready this long resets its slot's backoff. */
  readonly stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 30_000, stableMs: 60_000 };

/** What to run: one build, one generation number, N workers. */
export interface GenerationSpec {
  readonly generation: number;
  readonly version: string;
  /** The build's worker entry (dist/agent/main.js). */
  readonly exec: string;
  readonly workers: number;
  /** Merged over the primary's environment for every fork (HEARTH_CONFIG included). */
  readonly env: Readonly<Record<string, string>>;
  /** A hand-off target: its first workers must find every component healthy (STRICT_START_ENV). */
  readonly strictStart?: boolean;
  /** Node options for every fork (the heap limit); absent: the primary's own. */
  readonly execArgv?: readonly string[];
}

export interface GenerationHooks {
  readonly logger: Logger;
  readonly backoff: BackoffOptions;
  /** A restarted worker that is not ready within this is killed. */
  readonly readyTimeoutMs: number;
  /** Any worker state change (for the workers gauge). */
  readonly onChange: () => void;
  /** A worker of this generation exited while it was supposed to serve. */
  readonly onCrash: (gen: WorkerGeneration, handle: WorkerHandle) => void;
  readonly onRestart: (slot: number) => void;
  readonly onExit: (expected: boolean) => void;
  /** The host's per-app quotas its workers lease from. */
  readonly quotas?: HostQuotas | undefined;
}

export class GenerationError extends OpsError {
  constructor(code: OpsErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'GenerationError';
  }
}

export interface RetireReport {
  /** Workers that exited on their own after `drain`. */
  readonly drained: number[];
  /** Workers SIGKILLed: not ready yet, or still alive at the deadline. */
  readonly killed: number[];
  readonly ms: number;
}

interface Slot {
  readonly index: number;
  worker: WorkerHandle | undefined;
  restarts: number;
  delayMs: number;
  timer: NodeJS.Timeout | undefined;
}

type Phase = 'new' | 'starting' | 'serving' | 'stopping';

export class WorkerGeneration {
  readonly spec: GenerationSpec;
  readonly #h: GenerationHooks;
  readonly #log: Logger;
  readonly #slots: Slot[];
  readonly #all = new Set<WorkerHandle>();
  readonly #crashes: number[] = [];
  #phase: Phase = 'new';
  #retiring: Promise<RetireReport> | undefined;

  constructor(spec: GenerationSpec, hooks: GenerationHooks) {
    this.spec = spec;
    this.#h = hooks;
    this.#log = hooks.logger.child({ generation: spec.generation, build: spec.version });
    this.#slots = Array.from({ length: spec.workers }, (_, i) => ({ index: i + 1, worker: undefined, restarts: 0, delayMs: 0, timer: undefined }));
  }

  get number(): number {
    return this.spec.generation;
  }

  get version(): string {
    return this.spec.version;
  }

  /** Live worker processes, in slot order. */
  handles(): WorkerHandle[] {
    return [...this.#all].sort((a, b) => a.slot - b.slot || a.forkedAt - b.forkedAt);
  }

  restartsOf(slot: number): number {
    return this.#slots[slot - 1]?.restarts ?? 0;
  }

  /** When each unexpected exit happened (epoch ms), oldest first. */
  get crashes(): readonly number[] {
    return this.#crashes;
  }

  /**
   * Forks every slot and resolves once all are ready within readyTimeoutMs. The first failure
   * (a `failed` message, an exit, a protocol mismatch, the deadline) rejects with a
   * GenerationError naming the worker; the caller stops the generation.
   */
  async start(readyTimeoutMs: number, onForked: (pids: number[]) => void = () => undefined): Promise<void> {
    if (this.#phase !== 'new') throw new Error(`generation ${this.number} started twice`);
    this.#phase = 'starting';
    const handles = this.#slots.map((slot) => this.#fork(slot));
    onForked(handles.map((h) => h.pid));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const late = handles.filter((h) => h.state === 'starting').map((h) => `worker ${h.slot} (pid ${h.pid})`);
        reject(new GenerationError('HEARTH_ERR_TIMEOUT', `${late.join(', ') || 'workers'} not ready within ${readyTimeoutMs} ms`));
      }, readyTimeoutMs);
    });
    try {
      await Promise.race([Promise.all(handles.map((h) => h.ready.catch((err: unknown) => Promise.reject(startError(h, err))))), timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (this.#phase !== 'starting') throw new GenerationError('HEARTH_ERR_DRAINING', `generation ${this.number} was stopped while starting`);
    this.#phase = 'serving';
    this.#log.info({ workers: handles.map((h) => h.pid) }, 'generation ready');
  }

  #fork(slot: Slot): WorkerHandle {
    const { spec } = this;
    // Process-wide: set right before this fork so it runs this generation's build.
    cluster.setupPrimary({ exec: spec.exec, args: [], silent: false, ...(spec.execArgv === undefined ? {} : { execArgv: [...spec.execArgv] }) });
    // Strict only while the generation proves itself; a later restart must not crash-loop on a backend outage.
    const strict = spec.strictStart === true && this.#phase !== 'serving' ? '1' : '0';
    const worker = cluster.fork({ ...spec.env, HEARTH_GENERATION: String(spec.generation), HEARTH_VERSION: spec.version, [STRICT_START_ENV]: strict });
    const handle = new WorkerHandle(worker, slot.index, spec.generation, spec.version, this.#log, this.#h.quotas);
    slot.worker = handle;
    this.#all.add(handle);
    this.#h.onChange();
    this.#log.info({ slot: slot.index, pid: handle.pid, workerId: worker.id, restarts: slot.restarts, exec: spec.exec }, 'worker forked');

    // A restarted worker that never becomes ready is killed, and its slot backs off further.
    const readyTimer = setTimeout(() => {
      if (handle.state === 'starting' && this.#phase === 'serving') {
        this.#log.error({ slot: slot.index, pid: handle.pid, timeoutMs: this.#h.readyTimeoutMs }, 'worker not ready in time; killing it');
        handle.kill('SIGKILL');
      }
    }, this.#h.readyTimeoutMs);
    handle.ready.then(
      () => {
        clearTimeout(readyTimer);
        this.#h.onChange();
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
    const expected = this.#phase === 'stopping';
    this.#h.onExit(expected);
    this.#h.onChange();
    const fields = { slot: slot.index, pid: handle.pid, workerId: handle.worker.id, code, signal, uptimeMs: Date.now() - handle.forkedAt };
    if (expected) this.#log.info(fields, 'worker exited');
    else this.#log.error(fields, 'worker exited unexpectedly');
    if (slot.worker === handle) slot.worker = undefined;
    // While starting, the start itself fails on this exit; nothing is restarted.
    if (this.#phase !== 'serving') return;

    this.#crashes.push(Date.now());
    if (this.#crashes.length > 1000) this.#crashes.splice(0, this.#crashes.length - 1000);
    const stable = handle.readyAt !== undefined && Date.now() - handle.readyAt >= this.#h.backoff.stableMs;
    const { initialMs, maxMs } = this.#h.backoff;
    slot.delayMs = stable || slot.delayMs === 0 ? initialMs : Math.min(slot.delayMs * 2, maxMs);
    slot.restarts += 1;
    this.#h.onRestart(slot.index);
    this.#log.warn({ slot: slot.index, delayMs: slot.delayMs, restarts: slot.restarts }, 'restarting worker');
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.#phase === 'serving') this.#fork(slot);
    }, slot.delayMs);
    this.#h.onCrash(this, handle);
  }

  /** Why this generation is not fully up (empty when it is). */
  readinessProblems(): string[] {
    if (this.#phase === 'new' || this.#phase === 'starting') return [`generation ${this.number}: starting`];
    if (this.#phase === 'stopping') return [`generation ${this.number}: stopping`];
    const problems: string[] = [];
    for (const slot of this.#slots) {
      const w = slot.worker;
      if (!w) problems.push(`worker slot ${slot.index}: no worker (restarting, attempt ${slot.restarts})`);
      else if (w.state !== 'ready') problems.push(`worker slot ${slot.index} (pid ${w.pid}): ${w.state}`);
    }
    return problems;
  }

  /**
   * Graceful and bounded: no more restarts; ready workers get `drain` with most of the budget
   * (their own bounded close needs a moment on top), and so do starting workers that already
   * joined a listener; workers that reported `failed` are leaving by themselves; workers that
   * hold no listener are killed at once; whoever is alive at deadlineMs is SIGKILLed. Resolves when every worker has exited.
   * Idempotent.
   */
  retire(deadlineMs: number): Promise<RetireReport> {
    this.#retiring ??= this.#retire(deadlineMs);
    return this.#retiring;
  }

  async #retire(deadlineMs: number): Promise<RetireReport> {
    const began = Date.now();
    this.#phase = 'stopping';
    this.#cancelRestarts();
    const live = this.handles();
    const killed: number[] = [];
    const workerDeadline = Math.max(0, Math.floor(deadlineMs * 0.8));
    if (live.length > 0) this.#log.info({ workers: live.map((h) => h.pid), deadlineMs, workerDeadlineMs: workerDeadline }, 'draining workers');
    for (const h of live) {
      if (!h.alive || h.failed) {
        // A worker that said `failed` closes its listeners gracefully and exits by itself (bounded below).
        continue;
      }
      if (h.state === 'ready' || h.listening) {
        // Still starting but already accepting on a shared socket: it may hold connections, so it
        // drains like a ready one (and is killed at the deadline if it cannot).
        h.drain(workerDeadline);
      } else {
        // Holds no connection yet (never joined a listener): nothing to wait for.
        killed.push(h.pid);
        h.kill('SIGKILL');
      }
    }
    this.#h.onChange();
    if (!(await exitWithin(live, deadlineMs))) {
      const stragglers = live.filter((h) => h.alive);
      this.#log.warn({ workers: stragglers.map((h) => h.pid), deadlineMs }, 'workers did not exit within the drain deadline; killing them');
      for (const h of stragglers) {
        killed.push(h.pid);
        h.kill('SIGKILL');
      }
      // SIGKILL cannot be ignored (a stopped process dies too); the wait is only for the kernel.
      if (!(await exitWithin(stragglers, 10_000))) this.#log.error({ workers: stragglers.filter((h) => h.alive).map((h) => h.pid) }, 'workers still alive after SIGKILL');
    }
    const drained = live.map((h) => h.pid).filter((pid) => !killed.includes(pid));
    return { drained, killed, ms: Date.now() - began };
  }

  /** Forced: SIGKILL every worker now, no restarts. */
  destroy(): void {
    this.#phase = 'stopping';
    this.#cancelRestarts();
    for (const h of this.#all) h.kill('SIGKILL');
  }

  /** SIGKILL and wait (bounded) for the exits. */
  async kill(waitMs = 10_000): Promise<void> {
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

function startError(h: WorkerHandle, err: unknown): GenerationError {
  if (err instanceof WorkerStartError) {
    const verb = err.code === 'HEARTH_ERR_WORKER_START_FAILED' ? 'failed to start: ' : '';
    return new GenerationError(err.code, `worker ${h.slot} (pid ${h.pid}) ${verb}${err.message}`, err.details ? { ...err.details } : undefined);
  }
  return new GenerationError('HEARTH_ERR_INTERNAL', `worker ${h.slot} (pid ${h.pid}): ${(err as Error).message}`);
}

export async function exitWithin(handles: readonly WorkerHandle[], ms: number): Promise<boolean> {
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
