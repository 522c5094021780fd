// The wire protocol for one app on <run>/apps/<id>/wire.sock (docs/wire-protocol.md). The socket
// is the caller's identity: every Request's token must be that app's, and its `caller`, when set,
// must name that app. Listens exactly like grpc/grpc-app-server.ts (through the cluster primary
// when in a worker, mode 0660 right after the bind).
//
// Options: the app's TransportDeps (app, apps, api, metrics, logger, limits, quotas) plus
// `frameTimeoutMs` (default 30 s: how long a frame may stay incomplete).
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import type { WireHeader } from '../../../sdk/wire/header.js';
import { HearthError } from '../../errors/hearth-error.js';
import { unaryMethods } from '../methods/runtime-methods.js';
import { applySocketAccess } from '../socket-access.js';
import type { AppServer, TransportDeps } from '../transport-deps.js';
import type { WirePrincipal } from './wire-call.js';
import { listen } from './listen.js';
import { WireConnections } from './wire-connections.js';

export interface WireAppServerOptions {
  readonly frameTimeoutMs?: number | undefined;
}

export class WireAppServer implements AppServer {
  readonly #deps: TransportDeps;
  readonly #connections: WireConnections;
  #listener: net.Server | undefined;
  #closing: Promise<void> | undefined;

  constructor(deps: TransportDeps, options: WireAppServerOptions = {}) {
    this.#deps = deps;
    const logger = deps.logger.child({ component: 'wire', app: deps.app.id });
    this.#connections = new WireConnections(
      {
        api: deps.api,
        unary: unaryMethods(deps.api),
        metrics: deps.metrics,
        logger,
        quotas: deps.quotas,
        maxBodyBytes: deps.limits.maxBodyBytes,
        frameTimeoutMs: options.frameTimeoutMs,
        anonymousLabel: deps.app.id,
      },
      deps.app.id,
    );
  }

  async start(): Promise<void> {
    if (this.#closing || this.#listener) throw new Error('WireAppServer.start() called twice or after close()');
    const { app } = this.#deps;
    await mkdir(app.socketDir, { recursive: true, mode: 0o750 });
    const listener = net.createServer((socket) => this.#connections.accept(socket, (header) => this.#identify(header)));
    this.#listener = listener;
    try {
      await listen(listener, { path: app.wireSocket });
    } catch (err) {
      this.#listener = undefined; // e.g. EADDRINUSE outside a cluster: startable again
      throw err;
    }
    listener.on('error', (err) => this.#deps.logger.error({ err, app: app.id }, 'wire listener error'));
    await applySocketAccess(app.wireSocket, app, this.#deps.logger);
  }

  close(graceMs: number): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    // Stop accepting; in a worker the primary keeps the listener for the other workers.
    this.#listener?.close();
    await this.#connections.drain(graceMs);
  }

  destroy(): void {
    this.#closing ??= Promise.resolve();
    this.#listener?.close();
    this.#connections.destroy();
  }

  connections(): number {
    return this.#connections.size;
  }

  #identify(header: WireHeader): WirePrincipal {
    const { app, apps } = this.#deps;
    apps.authenticate(app, header.token);
    const caller = header.caller ?? '';
    if (caller !== '' && caller !== app.id) {
      throw new HearthError('HEARTH_ERR_PERMISSION_DENIED', `this socket belongs to app "${app.id}"; it cannot call as "${caller.slice(0, 64)}"`);
    }
    return { kind: 'app', app };
  }
}
