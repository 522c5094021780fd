// A worker's private wire socket for the other workers of the same agent: they forward
// invocations for app instances whose callback streams this worker holds. Who a Request speaks
// for and what it may call is forward-policy.ts's rule (scope `worker`: this worker's instances only).
//
// Options (PeerWireServerOptions): path (the Unix socket; its directory is created 0700 and a
// stale socket file from a dead worker is replaced), api, metrics, logger, limits,
// frameTimeoutMs (optional). Listens with `exclusive: true`: the socket is this worker's alone,
// never shared through the cluster primary.
import { mkdir, rm, chmod } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { TransportDeps } from '../transports/transport-deps.js';
import { invokeMethods } from '../transports/methods/invoke-methods.js';
import { WireServer } from '../transports/wire/listen.js';
import { WireConnections } from '../transports/wire/wire-connections.js';
import { authorizeMethod, peerWorkerPrincipal } from './forward-policy.js';

export interface PeerWireServerOptions extends Pick<TransportDeps, 'api' | 'metrics' | 'logger' | 'limits'> {
  readonly path: string;
  readonly frameTimeoutMs?: number | undefined;
}

export class PeerWireServer extends WireServer {
  readonly #o: PeerWireServerOptions;
  readonly #log: Logger;
  readonly #connections: WireConnections;

  constructor(options: PeerWireServerOptions) {
    super('PeerWireServer');
    this.#o = options;
    this.#log = options.logger.child({ component: 'wire-peers' });
    this.#connections = new WireConnections(
      {
        api: options.api,
        unary: invokeMethods(options.api),
        metrics: options.metrics,
        logger: this.#log,
        maxBodyBytes: options.limits.maxBodyBytes,
        frameTimeoutMs: options.frameTimeoutMs,
        anonymousLabel: '-',
        authorize: authorizeMethod,
        meshInvoke: true,
      },
      'peers',
    );
  }

  protected override get sessions(): WireConnections {
    return this.#connections;
  }

  /** Exclusive: a drain unlinks it first and answers late connections with Goaway (see WireServer.close). */
  protected override get ownPath(): string {
    return this.#o.path;
  }

  async start(): Promise<void> {
    this.assertStartable();
    await mkdir(path.dirname(this.#o.path), { recursive: true, mode: 0o700 });
    // A dead worker's socket file; nobody else listens on this worker's own path.
    await rm(this.#o.path, { force: true });
    const server = net.createServer((socket) => this.#connections.accept(socket, (header) => peerWorkerPrincipal(header)));
    await this.bind(server, { path: this.#o.path, exclusive: true }, this.#log);
    await chmod(this.#o.path, 0o600);
  }
}
