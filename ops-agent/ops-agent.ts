// The daemon put together: run dir, admin API, worker supervision, in the order that makes a
// crash at any step recoverable, and shut down in reverse (STYLE 3).
import { unlinkSync } from 'node:fs';
import type { Logger } from 'pino';
import type { HearthConfig } from '../agent/config/load-config.js';
import { AdminServer } from './admin-server.js';
import type { BuildInfo } from './build-info.js';
import { OpsMetrics } from './ops-metrics.js';
import { applySocketOwners, prepareRunDir, probeSocket, socketPaths, unlinkIfPresent, type RunDirLock } from './run-dir.js';
import { Supervisor } from './supervisor.js';

export interface OpsAgentOptions {
  readonly config: HearthConfig;
  readonly logger: Logger;
  readonly build: BuildInfo;
  readonly pid: number;
  /** Extra environment for workers (HEARTH_CONFIG is added here). */
  readonly workerEnv: Readonly<Record<string, string>>;
  readonly readyTimeoutMs?: number;
  /** How long a graceful shutdown waits for workers before killing them. */
  readonly shutdownTimeoutMs?: number;
}

export const GENERATION = 1;

export class OpsAgent {
  readonly #o: OpsAgentOptions;
  readonly #log: Logger;
  readonly #supervisor: Supervisor;
  readonly #admin: AdminServer;
  #lock: RunDirLock | undefined;
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #destroyed = false;

  constructor(options: OpsAgentOptions) {
    this.#o = options;
    this.#log = options.logger;
    const metrics = new OpsMetrics();
    this.#supervisor = new Supervisor({
      exec: options.build.workerExec,
      workers: options.config.workers,
      generation: GENERATION,
      version: options.build.version,
      env: { ...options.workerEnv, HEARTH_CONFIG: options.config.source },
      logger: options.logger,
      metrics,
      ...(options.readyTimeoutMs !== undefined ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
    });
    this.#admin = new AdminServer({
      config: options.config,
      supervisor: this.#supervisor,
      metrics,
      logger: options.logger,
      identity: { pid: options.pid, version: options.build.version, generation: GENERATION, startedAt: Date.now() },
    });
  }

  /** True once close() or destroy() began (a start failing after that is the shutdown, not an error). */
  get closing(): boolean {
    return this.#closing !== undefined || this.#destroyed;
  }

  get admin(): AdminServer {
    return this.#admin;
  }

  /** Takes the run dir, serves admin.sock, forks the workers and waits until all are ready. */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const { config } = this.#o;
    this.#log.info(
      { config: config.source, runDir: config.runDir, stateDir: config.stateDir, workers: config.workers, apps: config.apps.map((a) => a.id) },
      'starting',
    );
    this.#lock = await prepareRunDir(config, this.#log, this.#o.pid);
    try {
      if (this.closing) throw new Error('shutdown requested while starting');
      await this.#admin.start();
      await this.#supervisor.start();
      await applySocketOwners(config, this.#log);
    } catch (err) {
      await this.#supervisor.close(2_000);
      await this.#admin.close();
      await this.#removeStaleSockets();
      await this.#lock.release();
      throw err;
    }
    this.#log.info({ adminSocket: config.adminSocket }, 'hearth is ready');
  }

  /** Graceful: drain workers (bounded), close the admin API, remove admin.sock and the pid file. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#log.info('shutting down');
      await this.#supervisor.close(this.#o.shutdownTimeoutMs ?? 10_000);
      // A start in progress fails once its workers are gone; let it undo its own steps first.
      await this.#starting?.catch(() => undefined);
      await this.#admin.close();
      await this.#removeStaleSockets();
      await this.#lock?.release();
      this.#log.info('stopped');
    })();
    return this.#closing;
  }

  /** Forced: SIGKILL workers and remove our files synchronously; the caller exits right after. */
  destroy(): void {
    this.#destroyed = true;
    this.#supervisor.destroy();
    const files = [this.#o.config.adminSocket, ...(this.#lock ? [this.#lock.pidFile] : [])];
    for (const f of files) {
      try {
        unlinkSync(f);
      } catch {
        // already gone
      }
    }
  }

  /** The primary unlinks a socket when its last worker leaves; this catches anything left over. */
  async #removeStaleSockets(): Promise<void> {
    for (const p of socketPaths(this.#o.config)) {
      try {
        if ((await probeSocket(p)) === 'stale') await unlinkIfPresent(p);
      } catch (err) {
        this.#log.warn({ err, socket: p }, 'cannot check socket');
      }
    }
  }
}
