// The HTTP/JSON transport: one fastify instance per app on <run>/apps/<id>/http.sock, with
// Dapr-compatible paths so Dapr HTTP apps work unchanged. It only parses, authenticates, builds
// the CallContext and renders; everything else is the RuntimeApi's job.
import { once } from 'node:events';
import { chmod, chown } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { fastify, LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ERROR_CATALOG } from '../../errors/error-catalog.js';
import { HearthError } from '../../errors/hearth-error.js';
import type { AppServer, TransportDeps } from '../transport-deps.js';
import { genReqId, installRequestHooks } from './http-context.js';
import { ERROR_CODE_HEADER, errorBody, renderError } from './http-errors.js';
import { SseRegistry } from './http-sse.js';
import { validatorCompiler } from './http-validation.js';
import { DRAINING_EVENT, registerConfigurationRoutes } from './routes/configuration-routes.js';
import { registerLockRoutes } from './routes/lock-routes.js';
import { registerMetadataRoutes } from './routes/metadata-routes.js';
import { registerPubSubRoutes } from './routes/pubsub-routes.js';
import { registerSequencerRoutes } from './routes/sequencer-routes.js';
import { registerStateRoutes } from './routes/state-routes.js';

const SOCKET_MODE = 0o660;

export class HttpAppServer implements AppServer {
  readonly #deps: TransportDeps;
  readonly #log: Logger;
  readonly #server: FastifyInstance;
  readonly #sockets = new Set<Socket>();
  readonly #sse = new SseRegistry();
  #closing = false;
  #closed: Promise<void> | undefined;

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
      // `Connection: close`: during an upgrade it must not fail. Only healthz answers 503.
      return503OnClosing: false,
      forceCloseConnections: 'idle',
      // Keys are bounded by limits.maxKeyBytes in the RuntimeApi (HEARTH_ERR_INVALID_KEY), not by
      // the router's 100-character default (which would answer 404).
      routerOptions: { maxParamLength: 65_536 },
      clientErrorHandler: (err, socket) => this.#clientError(err, socket),
    });
    const server = this.#server;
    server.setValidatorCompiler(validatorCompiler);
    server.setErrorHandler(renderError);
    server.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?', 1)[0]!.slice(0, 200);
      renderError(new HearthError('HEARTH_ERR_NOT_FOUND', `no route ${request.method} ${path}`), request, reply);
    });
    // Every body arrives as a Buffer whatever its Content-Type: publish forwards the bytes as
    // they are, JSON routes parse them in a preValidation hook.
    server.removeAllContentTypeParsers();
    server.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    installRequestHooks(server, deps, isClosing);

    registerStateRoutes(server, deps);
    registerPubSubRoutes(server, deps);
    registerConfigurationRoutes(server, deps, this.#sse, isClosing);
    registerLockRoutes(server, deps);
    registerSequencerRoutes(server, deps);
    registerMetadataRoutes(server, deps, isClosing);

    server.server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      deps.metrics.connections.inc({ app: deps.app.id, transport: 'http' });
      socket.once('close', () => {
        this.#sockets.delete(socket);
        deps.metrics.connections.dec({ app: deps.app.id, transport: 'http' });
      });
    });
  }

  /** Listens on the app's http.sock (through the cluster primary in a worker), then sets mode and owner. */
  async start(): Promise<void> {
    const { app } = this.#deps;
    await this.#server.listen({ path: app.httpSocket });
    try {
      await chmod(app.httpSocket, SOCKET_MODE);
      const uid = numericId(app.socket.owner);
      const gid = numericId(app.socket.group);
      if (uid !== undefined || gid !== undefined) await chown(app.httpSocket, uid ?? -1, gid ?? -1);
      const named = [app.socket.owner, app.socket.group].filter((v) => v !== undefined && numericId(v) === undefined);
      if (named.length > 0) this.#log.debug({ socket: app.httpSocket }, 'socket owner/group given by name: left to the ops-agent');
    } catch (err) {
      this.destroy();
      throw new Error(`cannot set mode/owner of ${app.httpSocket}: ${(err as Error).message}`, { cause: err });
    }
    this.#log.info({ socket: app.httpSocket }, 'http transport listening');
  }

  /**
   * Healthz turns 503 at once; SSE streams end with a `close` event; idle keep-alive connections
   * close now and busy ones after their response (`Connection: close`); after graceMs whatever
   * is left is destroyed.
   */
  close(graceMs: number): Promise<void> {
    this.#closed ??= this.#close(graceMs);
    return this.#closed;
  }

  async #close(graceMs: number): Promise<void> {
    this.#closing = true;
    this.#sse.endAll('close', DRAINING_EVENT);
    const force = setTimeout(() => {
      if (this.#sockets.size > 0) this.#log.warn({ connections: this.#sockets.size }, 'grace period over: destroying connections');
      this.#sse.destroyAll();
      for (const s of this.#sockets) s.destroy();
    }, graceMs);
    try {
      await this.#server.close();
    } finally {
      clearTimeout(force);
    }
    await this.#socketsClosed();
    this.#log.info('http transport closed');
  }

  destroy(): void {
    this.#closing = true;
    this.#sse.destroyAll();
    for (const s of this.#sockets) s.destroy();
    this.#closed ??= this.#server
      .close()
      .then(() => this.#socketsClosed())
      .catch((err: unknown) => this.#log.warn({ err }, 'close after destroy failed'));
  }

  /** The server's 'close' can precede the sockets' own 'close' events by a tick: settle the count. */
  async #socketsClosed(): Promise<void> {
    await Promise.all(
      [...this.#sockets].map((socket) => {
        const closed = once(socket, 'close').then(() => undefined);
        socket.destroy();
        return closed;
      }),
    );
  }

  connections(): number {
    return this.#sockets.size;
  }

  /** Unparseable HTTP (bad request line, header overflow): answer with a coded 400 and hang up. */
  #clientError(err: Error & { code?: string }, socket: Socket): void {
    this.#log.debug({ err }, 'client error');
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

/** Owner/group as a uid/gid: numbers, or numeric strings. Names are resolved by the ops-agent. */
function numericId(v: string | number | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return undefined;
}
