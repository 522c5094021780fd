// The management API on <run>/admin.sock (mode 0660): liveness, readiness, Prometheus metrics
// aggregated across workers, and a JSON status. Every question to a worker has a timeout, so a
// hung worker makes an answer partial, never late.
import { chmod } from 'node:fs/promises';
import { fastify, LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AggregatorRegistry, Registry } from 'prom-client';
import type { HearthConfig } from '../agent/config/load-config.js';
import type { OpsMetrics } from './ops-metrics.js';
import { unlinkIfPresent } from './run-dir.js';
import { buildStatusReport, componentProblems, type OpsAgentIdentity, type StatusReport } from './status-report.js';
import type { Supervisor } from './supervisor.js';

export interface AdminServerOptions {
  readonly config: HearthConfig;
  readonly supervisor: Supervisor;
  readonly metrics: OpsMetrics;
  readonly logger: Logger;
  readonly identity: OpsAgentIdentity;
  /** Per-worker answer timeout for status and metrics requests. */
  readonly ipcTimeoutMs?: number;
}

export class AdminServer {
  readonly #o: AdminServerOptions;
  readonly #log: Logger;
  readonly #app: FastifyInstance;
  readonly #ipcTimeoutMs: number;
  #listening = false;
  #closing: Promise<void> | undefined;

  constructor(options: AdminServerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'admin' });
    this.#ipcTimeoutMs = options.ipcTimeoutMs ?? 2_000;
    // Typed as fastify's logger so the instance is the plain FastifyInstance.
    const loggerInstance: FastifyBaseLogger = this.#log;
    this.#app = fastify({ loggerInstance, logController: new LogController({ disableRequestLogging: true }) });
    this.#routes();
  }

  async start(): Promise<void> {
    const socket = this.#o.config.adminSocket;
    await this.#app.listen({ path: socket });
    this.#listening = true;
    await chmod(socket, 0o660);
    this.#log.info({ socket }, 'admin API listening');
  }

  /** Graceful; removes admin.sock. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#listening) await this.#app.close();
      await unlinkIfPresent(this.#o.config.adminSocket);
    })();
    return this.#closing;
  }

  /** The full status, as GET /v1/status returns it. */
  async report(): Promise<StatusReport> {
    const { supervisor, config, identity } = this.#o;
    const reports = await supervisor.collectStatus(this.#ipcTimeoutMs);
    const problems = [...supervisor.readinessProblems(), ...componentProblems(reports, supervisor.generation)];
    return buildStatusReport(identity, config, reports, problems);
  }

  async metricsText(): Promise<{ contentType: string; body: string }> {
    const own = this.#o.metrics.registry;
    const fromWorkers = await this.#o.supervisor.collectMetrics(this.#ipcTimeoutMs);
    let registry: Registry = own;
    try {
      // Workers of another build may disagree on a metric's shape; then serve ours alone.
      registry = Registry.merge([AggregatorRegistry.aggregate(fromWorkers), own]);
    } catch (err) {
      this.#log.error({ err }, 'cannot aggregate worker metrics');
    }
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  #routes(): void {
    const app = this.#app;
    app.get('/healthz', async () => ({ status: 'ok', pid: this.#o.identity.pid }));

    app.get('/readyz', async (_req, reply) => {
      const r = await this.report();
      return reply.code(r.ready ? 200 : 503).send({ ready: r.ready, problems: r.problems });
    });

    app.get('/metrics', async (_req, reply) => {
      const m = await this.metricsText();
      return reply.type(m.contentType).send(m.body);
    });

    app.get('/v1/status', async () => this.report());
  }
}
