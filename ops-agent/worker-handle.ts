// One forked agent worker as the supervisor sees it: its lifecycle state, its readiness, and
// request/response over cluster IPC with ids and timeouts, so a hung worker cannot hang the
// caller. Every message it receives is validated against the hand-off protocol.
import { randomUUID } from 'node:crypto';
import type { Worker } from 'node:cluster';
import type { Logger } from 'pino';
import {
  HANDOFF_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  isHandoffEnvelope,
  parseWorkerMessage,
  primaryMessages,
  type MetricJson,
  type PrimaryMessage,
  type WorkerStatus,
} from '../upgrade/handoff-protocol.js';
import { OpsError } from './ops-errors.js';
import type { HostQuotas } from './host-quotas.js';

export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited';

export interface WorkerExit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** A worker that never became ready; `details.workerCode` keeps the worker's own code. */
export class WorkerStartError extends OpsError {
  constructor(
    code: 'HEARTH_ERR_WORKER_EXITED' | 'HEARTH_ERR_WORKER_START_FAILED' | 'HEARTH_ERR_PROTOCOL_MISMATCH',
    message: string,
    workerCode?: string,
  ) {
    super(code, message, workerCode === undefined ? undefined : { workerCode });
    this.name = 'WorkerStartError';
  }
}

interface Pending {
  readonly type: 'status-response' | 'metrics-response';
  readonly resolve: (value: WorkerStatus | readonly MetricJson[]) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class WorkerHandle {
  readonly worker: Worker;
  readonly slot: number;
  readonly generation: number;
  readonly pid: number;
  readonly forkedAt = Date.now();
  #state: WorkerState = 'starting';
  #readyAt: number | undefined;
  #version: string;
  #protocol: number | undefined;
  #exit: WorkerExit | undefined;
  #drained = false;
  #failed = false;
  #listening = false;
  readonly #log: Logger;
  readonly #pending = new Map<string, Pending>();
  /** Resolves on `ready`; rejects on `failed` or an exit before ready. */
  readonly ready: Promise<void>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<WorkerExit>;
  #resolveReady!: () => void;
  #rejectReady!: (err: Error) => void;

  readonly #quotas: HostQuotas | undefined;

  /** `quotas`: the host's per-app quotas the worker leases from (none: its leases go unanswered). */
  constructor(worker: Worker, slot: number, generation: number, expectedVersion: string, log: Logger, quotas?: HostQuotas) {
    this.#quotas = quotas;
    this.worker = worker;
    this.slot = slot;
    this.generation = generation;
    this.#version = expectedVersion;
    this.pid = worker.process.pid ?? 0;
    this.#log = log.child({ workerId: worker.id, slot, pid: this.pid, generation });
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Observed by the supervisor; never an unhandled rejection on its own.
    this.ready.catch(() => undefined);
    this.exited = new Promise<WorkerExit>((resolve) => {
      worker.once('exit', (code: number | null, signal: string | null) => {
        this.#exit = { code, signal };
        this.#quotas?.forget(this.pid);
        const wasReady = this.#state === 'ready' || this.#state === 'draining';
        this.#state = 'exited';
        if (!wasReady) {
          this.#rejectReady(
            new WorkerStartError('HEARTH_ERR_WORKER_EXITED', `exited before ready (code ${code ?? 'none'}, signal ${signal ?? 'none'})`),
          );
        }
        for (const [id, p] of this.#pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`worker ${this.pid} exited before answering`));
          this.#pending.delete(id);
        }
        resolve(this.#exit);
      });
    });
    worker.on('message', (message: unknown) => this.#onMessage(message));
    // The primary handed it a shared listener: from now on the kernel may give it connections.
    worker.on('listening', () => (this.#listening = true));
    // IPC write errors (channel closing) surface here; the exit handler does the bookkeeping.
    worker.on('error', (err: Error) => this.#log.warn({ err }, 'worker IPC error'));
  }

  get state(): WorkerState {
    return this.#state;
  }

  get readyAt(): number | undefined {
    return this.#readyAt;
  }

  /** The version the worker reported in `ready` (the expected one before that). */
  get version(): string {
    return this.#version;
  }

  get protocol(): number | undefined {
    return this.#protocol;
  }

  get exit(): WorkerExit | undefined {
    return this.#exit;
  }

  get alive(): boolean {
    return this.#state !== 'exited';
  }

  /** It has joined at least one shared listener (so it may hold connections). */
  get listening(): boolean {
    return this.#listening;
  }

  /** The worker said `failed`: it closes what it started and exits by itself. */
  get failed(): boolean {
    return this.#failed;
  }

  /** The worker said `drained` before exiting (a graceful drain, not a kill). */
  get drained(): boolean {
    return this.#drained;
  }

  #onMessage(raw: unknown): void {
    if (!isHandoffEnvelope(raw)) return;
    const parsed = parseWorkerMessage(raw);
    if (!parsed.ok) {
      this.#log.warn({ reason: parsed.reason }, 'ignoring invalid message from worker');
      // A build that announces itself in a protocol we cannot read will never be understood:
      // fail its start now instead of waiting out the ready deadline.
      if (raw.type === 'ready' && this.#state === 'starting') {
        this.#rejectReady(
          new WorkerStartError('HEARTH_ERR_PROTOCOL_MISMATCH', `reported ready in hand-off protocol ${JSON.stringify(raw.hearth)}; this ops-agent reads ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`),
        );
      }
      return;
    }
    const m = parsed.message;
    switch (m.type) {
      case 'ready':
        if (this.#state !== 'starting') return;
        if (!SUPPORTED_PROTOCOL_VERSIONS.includes(m.protocol)) {
          this.#log.error({ version: m.version, protocol: m.protocol }, 'worker speaks another hand-off protocol');
          this.#rejectReady(
            new WorkerStartError(
              'HEARTH_ERR_PROTOCOL_MISMATCH',
              `build ${m.version} speaks hand-off protocol ${m.protocol}; this ops-agent speaks ${HANDOFF_PROTOCOL_VERSION}`,
            ),
          );
          return;
        }
        this.#state = 'ready';
        this.#readyAt = Date.now();
        this.#version = m.version;
        this.#protocol = m.protocol;
        if (m.generation !== this.generation) {
          this.#log.warn({ reported: m.generation }, 'worker reported a different generation');
        }
        this.#log.info({ version: m.version, protocol: m.protocol, startMs: this.#readyAt - this.forkedAt }, 'worker ready');
        this.#resolveReady();
        return;
      case 'failed':
        this.#failed = true;
        this.#log.error({ code: m.code, reason: m.message }, 'worker failed to start');
        this.#rejectReady(new WorkerStartError('HEARTH_ERR_WORKER_START_FAILED', m.message, m.code));
        return;
      case 'status-response':
        this.#settle(m.requestId, m.type, m.status);
        return;
      case 'metrics-response':
        this.#settle(m.requestId, m.type, m.metrics);
        return;
      case 'drained':
        this.#drained = true;
        this.#log.info('worker drained');
        return;
      case 'quota-lease': {
        const grant = this.#quotas?.lease(this.pid, m) ?? { requests: 0, bytes: 0, slots: 0 };
        this.send(primaryMessages.quotaGrant({ requestId: m.requestId, app: m.app, ...grant }));
        return;
      }
    }
  }

  #settle(requestId: string, type: Pending['type'], value: WorkerStatus | readonly MetricJson[]): void {
    const p = this.#pending.get(requestId);
    if (!p || p.type !== type) {
      this.#log.debug({ requestId, type }, 'late or unknown response');
      return;
    }
    clearTimeout(p.timer);
    this.#pending.delete(requestId);
    p.resolve(value);
  }

  /** Sends; false when the channel is already gone. */
  send(message: PrimaryMessage): boolean {
    if (!this.alive || !this.worker.isConnected()) return false;
    try {
      return this.worker.send(message);
    } catch (err) {
      this.#log.warn({ err, type: message.type }, 'could not send to worker');
      return false;
    }
  }

  status(timeoutMs: number): Promise<WorkerStatus> {
    return this.#request('status-response', (id) => primaryMessages.statusRequest(id), timeoutMs) as Promise<WorkerStatus>;
  }

  metrics(timeoutMs: number): Promise<readonly MetricJson[]> {
    return this.#request('metrics-response', (id) => primaryMessages.metricsRequest(id), timeoutMs) as Promise<readonly MetricJson[]>;
  }

  #request(
    type: Pending['type'],
    build: (requestId: string) => PrimaryMessage,
    timeoutMs: number,
  ): Promise<WorkerStatus | readonly MetricJson[]> {
    return new Promise((resolve, reject) => {
      const requestId = randomUUID();
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new Error(`worker ${this.pid} did not answer ${type.replace('-response', '')} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(requestId, { type, resolve, reject, timer });
      if (!this.send(build(requestId))) {
        clearTimeout(timer);
        this.#pending.delete(requestId);
        reject(new Error(`worker ${this.pid} is not connected`));
      }
    });
  }

  drain(deadlineMs: number): void {
    if (!this.alive) return;
    this.#state = 'draining';
    this.send(primaryMessages.drain(deadlineMs));
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.alive) return;
    try {
      this.worker.process.kill(signal);
    } catch (err) {
      this.#log.warn({ err, signal }, 'could not signal worker');
    }
  }
}
