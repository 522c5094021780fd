// One agent worker: loads the configuration, starts components and the per-app servers, proves it
// is ready (self-check), then speaks the hand-off protocol with the ops-agent. It never touches
// the process: main.ts hands it a logger, an IPC sender and an exit callback.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  isHandoffEnvelope,
  parsePrimaryMessage,
  STRICT_START_ENV,
  workerMessages,
  type ComponentStatus,
  type ConnectionCounts,
  type HeldCounts,
  type MetricJson,
  type WorkerMessage,
  type WorkerStatus,
} from '../upgrade/handoff-protocol.js';
import { AppBudgets } from './apps/app-budgets.js';
import { AppQuotas } from './apps/app-quotas.js';
import { IpcQuotaLeaser } from './apps/quota-leaser.js';
import { AppRegistry } from './apps/app-registry.js';
import { createRuntimeApi } from './building-blocks/create-runtime-api.js';
import { ComponentRegistry } from './components/component-registry.js';
import { ComponentSet } from './components/component-set.js';
import { registerAllComponents } from './components/setup.js';
import { loadConfig, type HearthConfig } from './config/load-config.js';
import { toHearthError } from './errors/hearth-error.js';
import { CallbackRegistry } from './app-channel/callback-registry.js';
import { HttpAppChannel } from './app-channel/http-app-channel.js';
import { HttpPush } from './app-channel/http-push.js';
import type { MeshRouter } from './mesh/mesh-router.js';
import { startMesh, startMeshServers } from './mesh/mesh-setup.js';
import type { PeerWorkers } from './mesh/peer-workers.js';
import { AgentMetrics } from './observability/metrics.js';
import { GrpcAppServer } from './transports/grpc/grpc-app-server.js';
import { HttpAppServer } from './transports/http/http-app-server.js';
import { WireAppServer } from './transports/wire/wire-app-server.js';
import type { AppServer, TransportDeps } from './transports/transport-deps.js';

/** Used when the worker drains on its own (SIGTERM) rather than on the ops-agent's request. */
export const DEFAULT_DRAIN_DEADLINE_MS = 10_000;
/** How long a worker that failed to start gives the connections it may already hold. */
const FAILED_START_CLOSE_MS = 5_000;

export interface AgentRuntimeOptions {
  readonly configFile: string;
  /** For `${VAR}` substitution and the HEARTH_RUN_DIR / HEARTH_STATE_DIR overrides. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly generation: number;
  readonly version: string;
  /**
   * Refuse to report ready while a component is unhealthy (a hand-off target proving itself).
   * Otherwise a remote backend that is down leaves the worker serving, degraded and unready in
   * /readyz, until the backend returns. Default: STRICT_START_ENV in `env` is `1`.
   */
  readonly strictStart?: boolean;
  readonly logger: Logger;
  /** Sends one message to the ops-agent; resolves once written. No-op when run standalone. */
  readonly send: (message: WorkerMessage) => Promise<void>;
  /** Called once after a drain has finished; main.ts exits with the code. */
  readonly exit: (code: number) => void;
}

interface AppServers {
  readonly appId: string;
  readonly grpc: AppServer;
  readonly http: AppServer;
  readonly wire: AppServer;
  readonly sockets: readonly string[];
}

type State = 'new' | 'starting' | 'ready' | 'draining' | 'closed';

export class AgentRuntime {
  readonly #o: AgentRuntimeOptions;
  readonly #log: Logger;
  readonly #startedAt = Date.now();
  #state: State = 'new';
  #config: HearthConfig | undefined;
  #metrics: AgentMetrics | undefined;
  #components: ComponentSet | undefined;
  #servers: AppServers[] = [];
  #callbacks: CallbackRegistry | undefined;
  /** The app channels of this worker (apps[].channel). */
  readonly #channels: HttpAppChannel[] = [];
  /** Their push subscriptions. */
  readonly #pushes: HttpPush[] = [];
  #router: MeshRouter | undefined;
  #peers: PeerWorkers | undefined;
  /** Listeners that are not an app's: the peer-worker socket and the sibling port. */
  #meshServers: AppServer[] = [];
  #closing: Promise<void> | undefined;
  readonly #leaser: IpcQuotaLeaser;
  #quotas: AppQuotas | undefined;
  #budgets: AppBudgets | undefined;

  constructor(options: AgentRuntimeOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#leaser = new IpcQuotaLeaser(options.send);
  }

  get state(): State {
    return this.#state;
  }

  /** Starts everything, self-checks, sends `ready`. On failure releases what started, sends `failed`, throws. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`AgentRuntime.start() called in state ${this.#state}`);
    this.#state = 'starting';
    try {
      await this.#startAll();
      await this.#selfCheck();
    } catch (err) {
      const e = toHearthError(err);
      // Config errors keep their own code; everything else is what the catalog makes of it.
      const code = (err as { code?: unknown }).code === 'HEARTH_ERR_CONFIG_INVALID' ? 'HEARTH_ERR_CONFIG_INVALID' : e.code;
      // The ops-agent learns first (it stops waiting and lets this worker leave by itself). Our
      // listeners may already share the live sockets and hold connections the kernel gave us:
      // they are closed at a request boundary, as in a drain, never reset.
      await this.#sendQuietly(workerMessages.failed(code, (err as Error).message ?? String(err)));
      await this.close(FAILED_START_CLOSE_MS);
      throw err;
    }
    if (this.#state !== 'starting') return; // drained or destroyed while starting
    this.#state = 'ready';
    await this.#o.send(
      workerMessages.ready({ version: this.#o.version, generation: this.#o.generation, pid: process.pid }),
    );
    this.#log.info(
      { apps: this.#servers.map((s) => s.appId), components: this.#components?.list().length ?? 0 },
      'worker ready',
    );
  }

  async #startAll(): Promise<void> {
    const config = await loadConfig(this.#o.configFile, { env: this.#o.env });
    this.#config = config;
    this.#log.level = config.logLevel;
    const metrics = new AgentMetrics();
    this.#metrics = metrics;

    const registry = new ComponentRegistry();
    registerAllComponents(registry);
    const components = await ComponentSet.start(config.components, registry, {
      stateDir: config.stateDir,
      configDir: path.dirname(config.source),
      limits: config.limits,
      logger: this.#log,
    });
    this.#components = components;
    // Before any listener joins the shared sockets: a worker that cannot serve never takes a connection.
    this.#checkComponents();
    const apps = new AppRegistry(config.apps);
    const budgets = new AppBudgets(metrics, this.#log);
    this.#budgets = budgets;
    const callbacks = new CallbackRegistry(config.invoke.callbackConcurrency, this.#log.child({ component: 'callbacks' }), (appId) =>
      budgets.callback(apps.require(appId)),
    );
    this.#callbacks = callbacks;
    const router = await this.#startRouter(config, callbacks, metrics);
    // Apps that run their own server get their invocations there: one instance per worker.
    for (const app of config.apps) {
      if (app.channel === undefined) continue;
      const channel = new HttpAppChannel({ appId: app.id, channel: app.channel, callbacks, maxBodyBytes: config.limits.maxBodyBytes, logger: this.#log });
      this.#channels.push(channel);
      channel.start();
    }
    const api = createRuntimeApi({ components, config, version: this.#o.version, generation: this.#o.generation, callbacks, router, budgets });
    // Pushes to the apps' channels: subscriptions declared, and listed by the app's server.
    for (const channel of this.#channels) {
      const app = config.apps.find((a) => a.id === channel.appId);
      if (app === undefined) continue;
      const push = new HttpPush({ app, channel, api, logger: this.#log });
      this.#pushes.push(push);
      await push.start();
    }
    // Before any listener: a worker serves with its first quota chunks in hand.
    const quotas = new AppQuotas({ leaser: this.#leaser, workers: config.workers, logger: this.#log });
    this.#quotas = quotas;
    await quotas.prime(config.apps);

    for (const app of config.apps) {
      // A drain that arrived while starting: listen on nothing more (what listens is closing).
      if (this.#state !== 'starting') throw new Error('drain requested while starting');
      // Transports bind `component` and `app` on their own child loggers.
      const deps: TransportDeps = { app, apps, api, metrics, logger: this.#log, limits: config.limits, quotas, budgets };
      const servers: AppServers = {
        appId: app.id,
        grpc: new GrpcAppServer(deps),
        http: new HttpAppServer(deps),
        wire: new WireAppServer(deps),
        sockets: [app.grpcSocket, app.httpSocket, app.wireSocket],
      };
      this.#servers.push(servers);
      // In a cluster worker, listen() asks the primary, which binds once and shares the fd.
      await servers.grpc.start();
      await servers.http.start();
      await servers.wire.start();
    }
    const peers = this.#peers;
    if (peers === undefined) throw new Error('the mesh did not start');
    await startMeshServers({ config, peers, api, apps, metrics, quotas, budgets, logger: this.#log }, (server) => this.#meshServers.push(server));
  }

  /**
   * The invoke router: this worker's callback streams, the other workers of this agent (found in
   * <runDir>/workers/) and, when configured, sibling agents from the static list and the registry.
   */
  async #startRouter(config: HearthConfig, callbacks: CallbackRegistry, metrics: AgentMetrics): Promise<MeshRouter> {
    const registry = config.siblings.registry === undefined ? undefined : this.#components?.registry(config.siblings.registry);
    const mesh = await startMesh({ config, callbacks, metrics, logger: this.#log, pid: process.pid, registry });
    this.#peers = mesh.peers;
    this.#router = mesh.router;
    return mesh.router;
  }

  /** The worker reports ready only when every socket is bound (and, in a strict start, every component is healthy). */
  async #selfCheck(): Promise<void> {
    // Components again (one may have failed since): strictly only; a lenient start logged them already.
    if (this.#strict) this.#checkComponents();
    const problems: string[] = [];
    for (const s of this.#servers) {
      for (const socket of s.sockets) {
        try {
          if (!(await stat(socket)).isSocket()) problems.push(`${socket} is not a socket`);
        } catch (err) {
          problems.push(`${socket} is not bound: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
      }
    }
    if (problems.length > 0) throw new Error(`self-check failed: ${problems.join('; ')}`);
  }

  get #strict(): boolean {
    return this.#o.strictStart ?? this.#o.env[STRICT_START_ENV] === '1';
  }

  /** Throws in a strict start; otherwise logs what is unhealthy (the worker serves degraded and recovers). */
  #checkComponents(): void {
    const unhealthy = this.#componentProblems();
    if (unhealthy.length === 0) return;
    if (this.#strict) throw new Error(`self-check failed: ${unhealthy.join('; ')}`);
    this.#log.warn({ problems: unhealthy }, 'starting with unhealthy components: their calls fail with a coded error until the backend returns');
  }

  #componentProblems(): string[] {
    return this.#componentStatus()
      .filter((c) => !c.healthy)
      .map((c) => `component ${c.type}/${c.name} is unhealthy${c.detail ? `: ${c.detail}` : ''}`);
  }

  /** Routes one IPC message from the ops-agent. Anything that is not a valid Hearth message is logged and dropped. */
  handleMessage(raw: unknown): void {
    if (!isHandoffEnvelope(raw)) return;
    const parsed = parsePrimaryMessage(raw);
    if (!parsed.ok) {
      this.#log.warn({ reason: parsed.reason }, 'ignoring invalid message from the ops-agent');
      return;
    }
    const m = parsed.message;
    switch (m.type) {
      case 'status-request':
        void this.#sendQuietly(workerMessages.statusResponse(m.requestId, this.status()));
        return;
      case 'metrics-request':
        void this.#metricsJson().then(
          (metrics) => this.#sendQuietly(workerMessages.metricsResponse(m.requestId, metrics)),
          (err: unknown) => this.#log.error({ err }, 'collecting metrics failed'),
        );
        return;
      case 'drain':
        void this.drain(m.deadlineMs);
        return;
      case 'quota-grant':
        this.#leaser.granted(m);
        return;
    }
  }

  /** Graceful stop within deadlineMs, then `drained`, then exit(0). Idempotent. */
  async drain(deadlineMs: number = DEFAULT_DRAIN_DEADLINE_MS): Promise<void> {
    const first = this.#closing === undefined;
    this.#log.info({ deadlineMs }, first ? 'draining' : 'drain requested again');
    await this.close(deadlineMs);
    if (!first) return;
    await this.#sendQuietly(workerMessages.drained());
    this.#log.info('drained; exiting');
    this.#o.exit(0);
  }

  /**
   * Graceful: stop accepting and let in-flight requests finish (servers), then close components
   * in reverse start order (nothing still serving uses a closed backend). Past the deadline everything left is destroyed.
   */
  close(deadlineMs: number = DEFAULT_DRAIN_DEADLINE_MS): Promise<void> {
    this.#closing ??= this.#closeWithin(deadlineMs);
    return this.#closing;
  }

  async #closeWithin(deadlineMs: number): Promise<void> {
    this.#state = 'draining';
    // What this worker holds of the apps' host-wide quotas and does not use goes back at once.
    this.#quotas?.returnIdle();
    const until = Date.now() + deadlineMs;
    // Servers get most of the budget; components need a moment after them to flush.
    const serverGrace = Math.max(0, Math.floor(deadlineMs * 0.7));
    // Every server stops accepting at once and ends its callback streams with DRAINING (apps
    // reconnect to the next generation), then lets in-flight calls finish.
    const closedServers = await this.#withDeadline(
      Promise.all([
        ...[...this.#allServers()].map((server) => server.close(serverGrace)),
        // Subscriptions first: what a push had not settled goes back to its group for the next generation.
        Promise.all(this.#pushes.map((push) => push.close())).then(() => Promise.all(this.#channels.map((channel) => channel.close(serverGrace)))),
      ]),
      Math.max(0, until - Date.now()),
    );
    if (!closedServers) {
      this.#log.warn('servers did not close before the drain deadline; destroying them');
      for (const server of this.#allServers()) server.destroy();
      for (const channel of this.#channels) channel.destroy();
    }
    // Streams ended with the servers; anything still pending fails now, then our connections go.
    this.#callbacks?.closeAll();
    const router = this.#router;
    if (router) await this.#withDeadline(router.close(), Math.max(500, Math.min(2_000, until - Date.now())));
    const components = this.#components;
    if (components) {
      const closed = await this.#withDeadline(components.close(), Math.max(1000, until - Date.now()));
      if (!closed) {
        this.#log.warn('components did not close before the drain deadline; destroying them');
        components.destroy();
      }
    }
    this.#state = 'closed';
  }

  /** Forced: releases everything at once. Idempotent. */
  destroy(): void {
    this.#state = 'closed';
    for (const server of this.#allServers()) safely(() => server.destroy(), this.#log);
    for (const push of this.#pushes) void push.close();
    for (const channel of this.#channels) safely(() => channel.destroy(), this.#log);
    this.#callbacks?.closeAll();
    const router = this.#router;
    if (router) void router.close().catch((err: unknown) => this.#log.warn({ err }, 'error while destroying the router'));
    const components = this.#components;
    if (components) safely(() => components.destroy(), this.#log);
  }

  *#allServers(): Iterable<AppServer> {
    for (const s of this.#servers) yield* [s.grpc, s.http, s.wire];
    yield* this.#meshServers;
  }

  status(): WorkerStatus {
    const mem = process.memoryUsage();
    const connections: Record<string, ConnectionCounts> = {};
    const held: Record<string, HeldCounts> = {};
    for (const s of this.#servers) {
      connections[s.appId] = { grpc: s.grpc.connections(), http: s.http.connections(), wire: s.wire.connections() };
      const h = this.#budgets?.held(s.appId);
      if (h !== undefined) held[s.appId] = { streams: h.streams, bufferedBytes: h.bufferedBytes, pendingCallbacks: h.pendingCallbacks };
    }
    return {
      pid: process.pid,
      version: this.#o.version,
      generation: this.#o.generation,
      uptimeMs: Date.now() - this.#startedAt,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      connections,
      held,
      components: this.#componentStatus(),
    };
  }

  #componentStatus(): ComponentStatus[] {
    const components = this.#components;
    if (!components) return [];
    return components.health().map((h) => ({
      name: h.name,
      type: h.type,
      healthy: h.healthy,
      ...(h.detail !== undefined ? { detail: h.detail } : {}),
    }));
  }

  async #metricsJson(): Promise<MetricJson[]> {
    const metrics = this.#metrics;
    if (!metrics) return [];
    for (const c of this.#componentStatus()) metrics.componentHealthy.set({ component: c.name, type: c.type }, c.healthy ? 1 : 0);
    // prom-client's label values are Partial<Record<…>>; over JSON IPC they are plain records.
    const all = (await metrics.registry.getMetricsAsJSON()) as unknown as MetricJson[];
    // JSON turns NaN and ±Infinity into null, and the ops-agent refuses the whole answer for one
    // such value (then waits out its timeout and serves no worker metrics at all). Drop them:
    // e.g. the event-loop lag mean is NaN when scraped again before the next lag sample.
    return all.map((m) => ({ ...m, values: m.values.filter((v) => Number.isFinite(v.value)) }));
  }

  /** True when `p` fulfils within ms; false when it rejects (logged) or is still running. */
  async #withDeadline(p: Promise<unknown>, ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const settled = p.then(
      () => true,
      (err: unknown) => {
        this.#log.error({ err }, 'graceful close failed');
        return false;
      },
    );
    try {
      return await Promise.race([settled, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #sendQuietly(message: WorkerMessage): Promise<void> {
    try {
      await this.#o.send(message);
    } catch (err) {
      this.#log.warn({ err, type: message.type }, 'could not send to the ops-agent');
    }
  }

  /** The loaded configuration (after start). */
  get config(): HearthConfig | undefined {
    return this.#config;
  }
}

function safely(fn: () => void, log: Logger): void {
  try {
    fn();
  } catch (err) {
    log.warn({ err }, 'error while destroying');
  }
}
