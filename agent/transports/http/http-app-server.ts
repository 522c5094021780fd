// The HTTP/JSON transport: one fastify instance per app on <run>/apps/<id>/http.sock, with
// Dapr-compatible paths so Dapr HTTP apps work unchanged. It only parses, authenticates, builds
// the CallContext and renders; everything else is the RuntimeApi's job.
import net, { Server as NetServer, type Socket } from 'node:net';
import { fastify, LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ERROR_CATALOG } from '../../errors/error-catalog.js';
import { HearthError } from '../../errors/hearth-error.js';
import type { AppServer, TransportDeps } from '../transport-deps.js';
import { ConnectionTracker } from './http-connections.js';
import { chargeBody, genReqId, installRequestHooks } from './http-context.js';
import { ERROR_CODE_HEADER, errorBody, renderError } from './http-errors.js';
import { SseRegistry } from './http-sse.js';
import { validatorCompiler } from './http-validation.js';
import { DRAINING_EVENT, registerConfigurationRoutes } from './routes/configuration-routes.js';
import { registerInvokeRoutes } from './routes/invoke-routes.js';
import { registerLockRoutes } from './routes/lock-routes.js';
import { registerMetadataRoutes } from './routes/metadata-routes.js';
import { registerPubSubRoutes } from './routes/pubsub-routes.js';
import { registerSequencerRoutes } from './routes/sequencer-routes.js';
import { registerStateRoutes } from './routes/state-routes.js';
import { applySocketAccess } from '../socket-access.js';

/** While draining, a keep-alive connection idle this long is closed (capped at half the grace). */
const DRAIN_IDLE_MS = 1000;
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with the server as `this`
const netServerClose = NetServer.prototype.close;

export class HttpAppServer implements AppServer {
  readonly #deps: TransportDeps;
  readonly #log: Logger;
  readonly #server: FastifyInstance;
  readonly #connections: ConnectionTracker;
  readonly #sse = new SseRegistry();
  #closing = false;
  #closed: Promise<void> | undefined;
  /** The app's TCP port (app.tcp), when it has one, and the connections it accepted. */
  #tcp: net.Server | undefined;
  readonly #tcpSockets = new WeakSet<Socket>();

  constructor(deps: TransportDeps) {
    this.#deps = deps;
    // The worker usually binds `app` already; bind it only when missing (no duplicate keys).
    const bound = deps.logger.bindings();
    this.#log = deps.logger.child(bound.app === undefined ? { component: 'http', app: deps.app.id } : { component: 'http' });
    const isClosing = (): boolean => this.#closing;
    // Typed as fastify's logger so the instance is the plain FastifyInstance the routes take.
    const loggerInstance: FastifyBaseLogger = this.#log;
    this.#server = fastify({
      loggerInstance,
      // Per-request child loggers carry `requestId`; no per-request access lines (metrics count them).
      logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
      genReqId,
      requestIdHeader: false,
      bodyLimit: deps.limits.maxBodyBytes,
      // A request arriving on a kept-alive connection while draining is still served, with
      // `Connection: close`: during an upgrade it must not fail. Only healthz answers 503. Idle
      // connections are closed by our drain (ConnectionTracker), not by fastify/Node at once.
      return503OnClosing: false,
      forceCloseConnections: false,
      // Keys are bounded by limits.maxKeyBytes in the RuntimeApi (HEARTH_ERR_INVALID_KEY), not by
      // the router's 100-character default (which would answer 404).
      routerOptions: { maxParamLength: 65_536 },
      clientErrorHandler: (err, socket) => this.#clientError(err, socket),
    });
    const server = this.#server;
    // A GET may carry a body (Dapr's invoke passes it on); fastify ignores GET bodies by default.
    server.addHttpMethod('GET', { hasBody: true, overrideExisting: true });
    server.setValidatorCompiler(validatorCompiler);
    server.setErrorHandler(renderError);
    server.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?', 1)[0]!.slice(0, 200);
      renderError(new HearthError('HEARTH_ERR_NOT_FOUND', `no route ${request.method} ${path}`), request, reply);
    });
    // Every body arrives as a Buffer whatever its Content-Type: publish and invoke forward the
    // bytes as they are, JSON routes parse them in a preValidation hook.
    server.removeAllContentTypeParsers();
    server.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
      chargeBody(deps, request, Buffer.isBuffer(body) ? body.length : Buffer.byteLength(body));
      done(null, body);
    });
    installRequestHooks(server, deps, isClosing);

    registerStateRoutes(server, deps);
    registerPubSubRoutes(server, deps);
    registerConfigurationRoutes(server, deps, this.#sse, isClosing);
    registerLockRoutes(server, deps);
    registerSequencerRoutes(server, deps);
    registerMetadataRoutes(server, deps, isClosing);
    registerInvokeRoutes(server, deps);

    const labels = { app: deps.app.id, transport: 'http' } as const;
    const { budgets } = deps;
    this.#connections = new ConnectionTracker(server.server, {
      onOpen: () => deps.metrics.connections.inc(labels),
      onClose: () => deps.metrics.connections.dec(labels),
      // The TCP port's connections have a pool of their own (its maxConnections): anyone local can
      // open them before a token is checked, and they must not use up the places of http.sock.
      admit: budgets === undefined ? undefined : (socket) => (this.#tcpSockets.has(socket) ? undefined : budgets.connection(deps.app, 'http')),
      idleTimeoutMs: deps.app.budgets.idleTimeoutMs,
    });
  }

  /**
   * Listens on the app's http.sock (through the cluster primary in a worker), then sets mode and
   * owner; and on its TCP port when it has one (docs/dapr.md), whose connections the same HTTP
   * server serves, so they are counted, budgeted and drained like the socket's.
   */
  async start(): Promise<void> {
    const { app } = this.#deps;
    await this.#server.listen({ path: app.httpSocket });
    if (app.tcp !== undefined) {
      // As http.Server makes its own: half-open allowed (a client that ends its side still gets the answer), no Nagle.
      const tcp = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
        this.#tcpSockets.add(socket);
        this.#server.server.emit('connection', socket);
      });
      tcp.maxConnections = app.budgets.connectionsPerSocket;
      this.#tcp = tcp;
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: app.tcp?.host, port: app.tcp?.httpPort }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      // An accept error (EMFILE) is logged, never a crash of the worker.
      tcp.on('error', (err) => this.#log.warn({ err }, 'the TCP listener reported an error'));
      this.#log.info({ host: app.tcp.host, port: app.tcp.httpPort }, 'http transport listening on TCP');
    }
    try {
      await applySocketAccess(app.httpSocket, app, this.#log);
    } catch (err) {
      this.destroy();
      throw new Error(`cannot set mode/owner of ${app.httpSocket}: ${(err as Error).message}`, { cause: err });
    }
    this.#log.info({ socket: app.httpSocket }, 'http transport listening');
  }

  /**
   * Healthz turns 503 and SSE streams end (`close` event) at once; the socket stops accepting (in
   * a cluster worker the other workers keep accepting on it); each connection closes at a request
   * boundary (see ConnectionTracker); after graceMs whatever is left is destroyed.
   */
  close(graceMs: number): Promise<void> {
    this.#closed ??= this.#close(graceMs);
    return this.#closed;
  }

  async #close(graceMs: number): Promise<void> {
    this.#closing = true;
    this.#sse.endAll('close', DRAINING_EVENT);
    const force = setTimeout(() => {
      if (this.#connections.size > 0) this.#log.warn({ connections: this.#connections.size }, 'grace period over: destroying connections');
      this.#sse.destroyAll();
      this.#connections.destroyAll();
    }, graceMs);
    try {
      // net.Server's close calls back only once every connection has ended, so the idle ones must
      // be told to go first; awaiting it before drain() kept each idle keep-alive connection
      // until the grace period destroyed it.
      const stopped = Promise.all([this.#stopAccepting(), this.#stopTcp()]);
      this.#connections.drain(Math.min(DRAIN_IDLE_MS, graceMs / 2));
      await this.#connections.empty();
      await stopped;
    } finally {
      clearTimeout(force);
    }
    // fastify's own shutdown (onClose hooks); its server.close() finds the listener already closed.
    await this.#server.close();
    this.#log.info('http transport closed');
  }

  /**
   * net.Server's close, not http.Server's: the latter also destroys every idle keep-alive
   * connection on the spot, racing clients that are reusing one.
   */
  #stopAccepting(): Promise<void> {
    return new Promise((resolve) => {
      try {
        netServerClose.call(this.#server.server, () => resolve());
      } catch {
        resolve();
      }
    });
  }

  /** The TCP listener stops accepting; resolves once its connections (drained with the others) are gone. */
  #stopTcp(): Promise<void> {
    const tcp = this.#tcp;
    if (tcp === undefined) return Promise.resolve();
    return new Promise((resolve) => tcp.close(() => resolve()));
  }

  destroy(): void {
    this.#closing = true;
    this.#tcp?.close();
    this.#sse.destroyAll();
    this.#connections.destroyAll();
    this.#closed ??= this.#server
      .close()
      .then(() => this.#connections.empty())
      .catch((err: unknown) => this.#log.warn({ err }, 'close after destroy failed'));
  }

  connections(): number {
    return this.#connections.size;
  }

  /** Unparseable HTTP (bad request line, header overflow): answer with a coded 400 and hang up. */
  #clientError(err: Error & { code?: string }, socket: Socket): void {
    // Not `{ err }`: Node attaches the raw request bytes (rawPacket), which may hold a token.
    this.#log.debug({ code: err.code, message: err.message }, 'client error');
    if (socket.writable && err.code !== 'ECONNRESET') {
      const herr = new HearthError('HEARTH_ERR_MALFORMED_REQUEST', `malformed HTTP request (${err.code ?? 'unknown'})`);
      const body = JSON.stringify(errorBody(herr));
      socket.end(
        `HTTP/1.1 ${ERROR_CATALOG.HEARTH_ERR_MALFORMED_REQUEST.http} Bad Request\r\n` +
          `Content-Type: application/json\r\n${ERROR_CODE_HEADER}: ${herr.code}\r\n` +
          `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    socket.destroySoon();
  }
}

