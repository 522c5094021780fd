// The wire protocol for one app on <run>/apps/<id>/wire.sock (docs/wire-protocol.md). The socket
// is the caller's identity: every Request's token must be that app's, and its `caller`, when set,
// must name that app. Listens exactly like grpc/grpc-app-server.ts (through the cluster primary
// when in a worker, mode 0660 right after the bind).
//
// Options: the app's TransportDeps (app, apps, api, metrics, logger, limits, quotas) plus
// `frameTimeoutMs` (default 30 s: how long a frame may stay incomplete).
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import { type WireHeader } from '@hearth/protocol';
import { HearthError } from '../../errors/hearth-error.js';
import { ConnectionAuth } from '../../apps/app-registry.js';
import { unaryMethods } from '../methods/runtime-methods.js';
import { applySocketAccess } from '../socket-access.js';
import type { TransportDeps } from '../transport-deps.js';
import type { WirePrincipal } from './wire-call.js';
import { WireServer } from './listen.js';
import { TurnShare } from './turn-share.js';
import { WireConnections } from './wire-connections.js';

/** Frames all of one app's wire connections may have handled in one event-loop turn (turn-share.ts). */
const FRAMES_PER_APP_TURN = 256;

export interface WireAppServerOptions {
  readonly frameTimeoutMs?: number | undefined;
}

export class WireAppServer extends WireServer {
  readonly #deps: TransportDeps;
  readonly #connections: WireConnections;

  constructor(deps: TransportDeps, options: WireAppServerOptions = {}) {
    super('WireAppServer');
    this.#deps = deps;
    const logger = deps.logger.child({ component: 'wire', app: deps.app.id });
    this.#connections = new WireConnections(
      {
        api: deps.api,
        unary: unaryMethods(deps.api),
        metrics: deps.metrics,
        logger,
        quotas: deps.quotas,
        budgets: deps.budgets,
        idleTimeoutMs: deps.app.budgets.idleTimeoutMs,
        maxBodyBytes: deps.limits.maxBodyBytes,
        frameTimeoutMs: options.frameTimeoutMs,
        anonymousLabel: deps.app.id,
        turnShare: new TurnShare(FRAMES_PER_APP_TURN),
      },
      deps.app.id,
    );
  }

  protected override get sessions(): WireConnections {
    return this.#connections;
  }

  async start(): Promise<void> {
    this.assertStartable();
    const { app } = this.#deps;
    await mkdir(app.socketDir, { recursive: true, mode: 0o750 });
    const { budgets } = this.#deps;
    const admit = budgets === undefined ? undefined : () => budgets.connection(app, 'wire');
    const listener = net.createServer((socket) => {
      const auth = new ConnectionAuth();
      this.#connections.accept(socket, (header) => this.#identify(header, auth), admit);
    });
    await this.bind(listener, { path: app.wireSocket }, this.#deps.logger.child({ app: app.id }));
    await applySocketAccess(app.wireSocket, app, this.#deps.logger);
  }

  #identify(header: WireHeader, auth: ConnectionAuth): WirePrincipal {
    const { app, apps } = this.#deps;
    auth.authenticate(apps, app, header.token);
    const caller = header.caller ?? '';
    if (caller !== '' && caller !== app.id) {
      throw new HearthError('HEARTH_ERR_PERMISSION_DENIED', `this socket belongs to app "${app.id}"; it cannot call as "${caller.slice(0, 64)}"`);
    }
    return { kind: 'app', app };
  }
}
