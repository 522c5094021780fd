// The daemon put together: run dir, persisted upgrade state, admin API, worker supervision, the
// upgrade manager, in the order that makes a crash at any step recoverable, and shut down in
// reverse (what started last depends on what started before it).
import { unlinkSync } from 'node:fs';
import type { Logger } from 'pino';
import { loadConfig, type HearthConfig } from '../agent/config/load-config.js';
import { AdminServer } from './admin-server.js';
import { ArtifactStore } from './artifacts/artifact-store.js';
import type { BuildInfo } from './build-info.js';
import { OpsMetrics } from './ops-metrics.js';
import { applySocketOwners, prepareAppDirs, prepareRunDir, probeSocket, socketPaths, unlinkIfPresent, type RunDirLock } from './run-dir.js';
import type { UpgradeStatus } from './status-report.js';
import { Supervisor, type GenerationSpec } from './supervisor.js';
import { recoverAtStart } from './upgrade/startup-recovery.js';
import { UpgradeManager } from './upgrade/upgrade-manager.js';
import { UpgradeStateFile, type BuildRef } from './upgrade/upgrade-state.js';
import type { VersionStore } from './upgrade/version-store.js';
import { HostQuotas } from './host-quotas.js';

export interface OpsAgentOptions {
  readonly config: HearthConfig;
  readonly logger: Logger;
  readonly build: BuildInfo;
  readonly pid: number;
  /** Extra environment for workers (HEARTH_CONFIG is added here). */
  readonly workerEnv: Readonly<Record<string, string>>;
  /** Node options every worker gets before the heap limit (the ops-agent's own). */
  readonly workerExecArgv?: readonly string[];
  /** Environment for `${VAR}` substitution when a reload re-reads the configuration. */
  readonly configEnv: Readonly<Record<string, string | undefined>>;
  /** Installs artifacts (default: the ArtifactStore under the state dir). */
  readonly store?: (config: HearthConfig, logger: Logger) => VersionStore;
  readonly readyTimeoutMs?: number;
  /** How long a graceful shutdown waits for workers before killing them. */
  readonly shutdownTimeoutMs?: number;
}

export class OpsAgent {
  readonly #o: OpsAgentOptions;
  readonly #log: Logger;
  readonly #supervisor: Supervisor;
  readonly #state: UpgradeStateFile;
  readonly #newStore: (config: HearthConfig, logger: Logger) => VersionStore;
  #store: { readonly config: HearthConfig; readonly store: VersionStore } | undefined;
  readonly #manager: UpgradeManager;
  readonly #admin: AdminServer;
  readonly #ownBuild: BuildRef;
  #config: HearthConfig;
  #lock: RunDirLock | undefined;
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #destroyed = false;

  constructor(options: OpsAgentOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#config = options.config;
    this.#ownBuild = { version: options.build.version, exec: options.build.workerExec };
    const metrics = new OpsMetrics();
    const quotas = new HostQuotas(options.config.apps);
    this.#supervisor = new Supervisor({
      logger: options.logger,
      metrics,
      quotas,
      ...(options.readyTimeoutMs !== undefined ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
    });
    this.#state = new UpgradeStateFile(options.config.stateDir, options.logger);
    this.#newStore = options.store ?? ((config, logger) => new ArtifactStore({ stateDir: config.stateDir, upgrade: config.upgrade, logger }));
    this.#manager = new UpgradeManager({
      supervisor: this.#supervisor,
      store: () => this.#versionStore(),
      state: this.#state,
      config: () => this.#config,
      specFor: (build, generation, config) => this.#spec(build, generation, config),
      loadConfig: () => loadConfig(this.#config.source, { env: options.configEnv }),
      // New apps get their directory; apps whose socket owner or group changed get it handed over.
      prepareConfig: (next) => {
        quotas.add(next.apps);
        return prepareAppDirs(
          next,
          next.apps.filter((a) => !this.#config.apps.some((c) => c.id === a.id)).map((a) => a.id),
          this.#log,
          next.apps.filter((a) => ownerChanged(this.#config, a)).map((a) => a.id),
        );
      },
      // The new generation never took over: the serving one's limits again.
      abandonConfig: () => quotas.configure(this.#config.apps),
      commitConfig: async (next) => {
        this.#config = next;
        quotas.configure(next.apps);
        this.#log.level = next.logLevel;
        await applySocketOwners(next, this.#log);
      },
      logger: options.logger,
    });
    this.#admin = new AdminServer({
      config: () => this.#config,
      supervisor: this.#supervisor,
      metrics,
      logger: options.logger,
      identity: { pid: options.pid, version: options.build.version, startedAt: Date.now() },
      manager: this.#manager,
      upgradeStatus: () => this.#upgradeStatus(),
    });
  }

  /** True once close() or destroy() began (a start failing after that is the shutdown, not an error). */
  get closing(): boolean {
    return this.#closing !== undefined || this.#destroyed;
  }

  get admin(): AdminServer {
    return this.#admin;
  }

  get config(): HearthConfig {
    return this.#config;
  }

  /** Reload, as SIGHUP asks for it: the result is logged. */
  reload(): void {
    try {
      this.#manager.reload(() => undefined).then(
        (r) => this.#log.info({ result: r.result, code: r.code, message: r.message }, 'reload finished'),
        (err: unknown) => this.#log.error({ err }, 'reload failed'),
      );
    } catch (err) {
      this.#log.warn({ err }, 'reload refused');
    }
  }

  /** Takes the run dir, serves admin.sock, forks the active build's workers and waits until all are ready. */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const config = this.#config;
    this.#log.info(
      { config: config.source, runDir: config.runDir, stateDir: config.stateDir, workers: config.workers, apps: config.apps.map((a) => a.id) },
      'starting',
    );
    this.#lock = await prepareRunDir(config, this.#log, this.#o.pid);
    try {
      if (this.closing) throw new Error('shutdown requested while starting');
      const { build, generation, fallback } = await recoverAtStart(this.#state, this.#versionStore(), this.#ownBuild, this.#log);
      await this.#admin.start();
      const gen = await this.#supervisor.launch(this.#spec(build, generation, config));
      this.#supervisor.activate(gen);
      this.#manager.started(gen.number);
      await this.#state.update((s) => ({ ...s, active: { ...build, generation: gen.number } }));
      if (fallback) this.#log.warn({ fallback }, 'started a fallback build');
      await applySocketOwners(config, this.#log);
    } catch (err) {
      await this.#supervisor.close(2_000);
      await this.#admin.close();
      await this.#removeStaleSockets();
      await this.#lock.release();
      throw err;
    }
    this.#log.info({ adminSocket: config.adminSocket, adminTcp: this.#admin.tcpAddress }, 'hearth is ready');
  }

  /** The store for the configuration in force (a reload may change its limits and key). */
  #versionStore(): VersionStore {
    if (this.#store?.config !== this.#config) this.#store = { config: this.#config, store: this.#newStore(this.#config, this.#log) };
    return this.#store.store;
  }

  #spec(build: BuildRef, generation: number, config: HearthConfig): GenerationSpec {
    return {
      generation,
      version: build.version,
      exec: build.exec,
      workers: config.workers,
      env: { ...this.#o.workerEnv, HEARTH_CONFIG: config.source },
      execArgv: workerExecArgv(this.#o.workerExecArgv ?? [], config.limits.workerHeapMb),
    };
  }

  #upgradeStatus(): UpgradeStatus {
    const s = this.#state.state;
    return { active: s.active, previous: s.previous, inProgress: s.inProgress ?? null, lastResult: s.lastResult ?? null };
  }

  /** Graceful: drain workers (bounded), close the admin API, remove admin.sock and the pid file. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#log.info('shutting down');
      const handoff = this.#manager.close();
      await this.#supervisor.close(this.#o.shutdownTimeoutMs ?? 10_000);
      // A hand-off in progress fails once its workers are gone; let it record that first.
      await handoff;
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
    const files = [this.#config.adminSocket, ...(this.#lock ? [this.#lock.pidFile] : [])];
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
    for (const p of socketPaths(this.#config)) {
      try {
        if ((await probeSocket(p)) === 'stale') await unlinkIfPresent(p);
      } catch (err) {
        this.#log.warn({ err, socket: p }, 'cannot check socket');
      }
    }
  }
}

/**
 * A worker's Node options: the ops-agent's own, then the heap limit (a later flag wins), so one
 * app's garbage cannot grow a worker past its share of the unit's memory.
 */
export function workerExecArgv(base: readonly string[], heapMb: number): string[] {
  const own = base.filter((a) => !a.startsWith('--max-old-space-size'));
  return heapMb > 0 ? [...own, `--max-old-space-size=${heapMb}`] : own;
}

/** True for an app served before whose socket owner or group changed. */
function ownerChanged(current: HearthConfig, app: HearthConfig['apps'][number]): boolean {
  const before = current.apps.find((c) => c.id === app.id);
  return before !== undefined && (before.socket.owner !== app.socket.owner || before.socket.group !== app.socket.group);
}
