// The management API on <run>/admin.sock (mode 0660) and, when configured, on a TCP port for a
// fleet manager (every request there needs `authorization: Bearer <token>`, except the two probe
// routes below; the socket relies on its file mode). Liveness, readiness, Prometheus metrics
// aggregated across workers, a JSON status, and the hand-off routes. Every question to a worker
// has a timeout, so a hung worker makes an answer partial, never late. Errors are
// `{errorCode, message}` with the catalog's status.
import { createHash, timingSafeEqual } from 'node:crypto';
import { chmod } from 'node:fs/promises';
import { fastify, LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AggregatorRegistry, Registry } from 'prom-client';
import type { HearthConfig } from '../agent/config/load-config.js';
import { OPS_ERROR_CATALOG, isOpsErrorCode, type OpsErrorCode } from './ops-errors.js';
import type { OpsMetrics } from './ops-metrics.js';
import { unlinkIfPresent } from './run-dir.js';
import { buildStatusReport, componentProblems, type OpsAgentIdentity, type StatusReport, type UpgradeStatus } from './status-report.js';
import type { Supervisor } from './supervisor.js';
import type { UpgradeManager } from './upgrade/upgrade-manager.js';
import { registerUpgradeRoutes } from './upgrade/upgrade-routes.js';

/**
 * Routes the TCP listener answers without a token, for the kubelet's httpGet probes (see
 * kubernetes/daemonset.yaml): a probe cannot send a secret without writing it into the manifest,
 * and an exec probe would start a Node process (~44 MB, ~0.1 s of CPU) in the agent's container
 * every few seconds. Unauthenticated, they say only whether the agent is alive / ready — no pid, no
 * `problems` — and cost what an authenticated call costs. Every other route still needs the token;
 * a request that sends a wrong token is refused here too.
 */
export const UNAUTHENTICATED_PROBE_ROUTES: readonly string[] = ['/healthz', '/readyz'];

export interface AdminServerOptions {
  /** The configuration in force (a reload replaces it). */
  readonly config: () => HearthConfig;
  readonly supervisor: Supervisor;
  readonly metrics: OpsMetrics;
  readonly logger: Logger;
  readonly identity: OpsAgentIdentity;
  readonly manager: UpgradeManager;
  readonly upgradeStatus: () => UpgradeStatus;
  /** Per-worker answer timeout for status and metrics requests. */
  readonly ipcTimeoutMs?: number;
}

export class AdminServer {
  readonly #o: AdminServerOptions;
  readonly #log: Logger;
  readonly #unix: FastifyInstance;
  readonly #tcp: FastifyInstance | undefined;
  readonly #socket: string;
  readonly #ipcTimeoutMs: number;
  #listening = false;
  #tcpAddress: string | undefined;
  #closing: Promise<void> | undefined;
  /** Probe requests on TCP that carried no token: they get the status alone. */
  readonly #anonymous = new WeakSet<FastifyRequest>();
  /** One readiness round at a time: concurrent /readyz share it (the TCP probes are unauthenticated). */
  #readiness: Promise<StatusReport> | undefined;

  constructor(options: AdminServerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'admin' });
    this.#ipcTimeoutMs = options.ipcTimeoutMs ?? 2_000;
    const config = options.config();
    this.#socket = config.adminSocket;
    this.#unix = this.#build(undefined);
    this.#tcp = config.adminTcp ? this.#build(config.adminTcp.tokenSha256) : undefined;
  }

  /** host:port of the TCP listener once it listens. */
  get tcpAddress(): string | undefined {
    return this.#tcpAddress;
  }

  async start(): Promise<void> {
    await this.#unix.listen({ path: this.#socket });
    this.#listening = true;
    await chmod(this.#socket, 0o660);
    this.#log.info({ socket: this.#socket }, 'admin API listening');
    const tcp = this.#o.config().adminTcp;
    if (this.#tcp && tcp) {
      await this.#tcp.listen({ host: tcp.host, port: tcp.port });
      const a = this.#tcp.server.address();
      this.#tcpAddress = a !== null && typeof a === 'object' ? `${a.address}:${a.port}` : `${tcp.host}:${tcp.port}`;
      this.#log.info({ address: this.#tcpAddress }, 'admin API listening on TCP (bearer token required)');
    }
  }

  /** Graceful; removes admin.sock. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#listening) await this.#unix.close();
      if (this.#tcp) await this.#tcp.close();
      await unlinkIfPresent(this.#socket);
    })();
    return this.#closing;
  }

  /** The full status, as GET /v1/status returns it. */
  async report(): Promise<StatusReport> {
    const { supervisor, identity } = this.#o;
    const reports = await supervisor.collectStatus(this.#ipcTimeoutMs);
    const problems = [...supervisor.readinessProblems(), ...componentProblems(reports, supervisor.generation)];
    return buildStatusReport(identity, this.#o.config(), reports, problems, supervisor.generation, this.#o.upgradeStatus());
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

  #build(tokenSha256: string | undefined): FastifyInstance {
    // Typed as fastify's logger so the instance is the plain FastifyInstance.
    const loggerInstance: FastifyBaseLogger = this.#log;
    const app = fastify({
      loggerInstance,
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: 64 * 1024,
      // Unknown fields are an error, not silently dropped (fastify's default strips them).
      ajv: { customOptions: { removeAdditional: false } },
    });
    if (tokenSha256 !== undefined) {
      const expected = Buffer.from(tokenSha256, 'hex');
      app.addHook('onRequest', async (req, reply) => {
        if (req.headers.authorization === undefined && isProbe(req)) {
          this.#anonymous.add(req);
          return undefined;
        }
        const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
        const given = createHash('sha256').update(m?.[1] ?? '', 'utf8').digest();
        // Digests have the same length, so the comparison time says nothing about the token.
        if (!m || !timingSafeEqual(given, expected)) {
          return sendError(reply, 'HEARTH_ERR_UNAUTHENTICATED', m ? 'invalid admin token' : 'missing bearer token');
        }
        return undefined;
      });
    }
    app.setErrorHandler((err: FastifyError, _req, reply) => {
      const code: OpsErrorCode = err.validation
        ? 'HEARTH_ERR_INVALID_ARGUMENT'
        : isOpsErrorCode(err.code)
          ? err.code
          : (err.statusCode ?? 500) < 500
            ? 'HEARTH_ERR_INVALID_ARGUMENT'
            : 'HEARTH_ERR_INTERNAL';
      if (code === 'HEARTH_ERR_INTERNAL') this.#log.error({ err }, 'admin request failed');
      const status = code === 'HEARTH_ERR_INVALID_ARGUMENT' && err.statusCode !== undefined && err.statusCode < 500 ? err.statusCode : undefined;
      return sendError(reply, code, err.message, status);
    });
    app.setNotFoundHandler((req, reply) => sendError(reply, 'HEARTH_ERR_NOT_FOUND', `no route ${req.method} ${req.url}`));

    app.get('/healthz', async (req) => (this.#anonymous.has(req) ? { status: 'ok' } : { status: 'ok', pid: this.#o.identity.pid }));

    app.get('/readyz', async (req, reply) => {
      this.#readiness ??= this.report().finally(() => (this.#readiness = undefined));
      const r = await this.#readiness;
      return reply.code(r.ready ? 200 : 503).send(this.#anonymous.has(req) ? { ready: r.ready } : { ready: r.ready, problems: r.problems });
    });

    app.get('/metrics', async (_req, reply) => {
      const m = await this.metricsText();
      return reply.type(m.contentType).send(m.body);
    });

    app.get('/v1/status', async () => ({ ...(await this.report()), adminTcp: this.#tcpAddress ?? null }));
    registerUpgradeRoutes(app, this.#o.manager, this.#log);
    return app;
  }
}

/** GET (or the HEAD fastify derives from it) of a probe route; unknown routes are not probes. */
function isProbe(req: FastifyRequest): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && UNAUTHENTICATED_PROBE_ROUTES.includes(req.routeOptions.url ?? '');
}

function sendError(reply: FastifyReply, code: OpsErrorCode, message: string, status?: number): FastifyReply {
  return reply
    .code(status ?? OPS_ERROR_CATALOG[code].http)
    .header('hearth-error-code', code)
    .type('application/json')
    .send({ errorCode: code, message });
}
