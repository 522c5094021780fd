// A worker's private wire socket for the other workers of the same agent: they forward
// invocations for app instances whose callback streams this worker holds. The socket directory's
// permissions are the trust (only this agent's user reaches it), so Requests carry no token; each
// names the verified calling app in `caller`, and only Invoke/InvokeService is served, delivered
// to this worker's instances only (deliverForwarded, scope `worker`).
//
// Options (PeerWireServerOptions): path (the Unix socket; its directory is created 0700 and a
// stale socket file from a dead worker is replaced), api, metrics, logger, limits,
// frameTimeoutMs (optional). Listens with `exclusive: true`: the socket is this worker's alone,
// never shared through the cluster primary.
import { mkdir, rm, chmod } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { type WireHeader } from '@hearth/protocol';
import type { RuntimeApi } from '../../building-blocks/runtime-api.js';
import type { LimitsConfig } from '../../config/config-schema.js';
import { HearthError } from '../../errors/hearth-error.js';
import type { AgentMetrics } from '../../observability/metrics.js';
import { invokeMethods } from '../methods/invoke-methods.js';
import type { WirePrincipal } from './wire-call.js';
import { WireServer } from './listen.js';
import { WireConnections } from './wire-connections.js';

const APP_ID = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface PeerWireServerOptions {
  readonly path: string;
  readonly api: RuntimeApi;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly limits: Readonly<LimitsConfig>;
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
      },
      'peers',
    );
  }

  protected override get sessions(): WireConnections {
    return this.#connections;
  }

  async start(): Promise<void> {
    this.assertStartable();
    await mkdir(path.dirname(this.#o.path), { recursive: true, mode: 0o700 });
    // A dead worker's socket file; nobody else listens on this worker's own path.
    await rm(this.#o.path, { force: true });
    const server = net.createServer((socket) => this.#connections.accept(socket, (header) => identify(header)));
    await this.bind(server, { path: this.#o.path, exclusive: true }, this.#log);
    await chmod(this.#o.path, 0o600);
  }
}

function identify(header: WireHeader): WirePrincipal {
  const caller = header.caller ?? '';
  if (!APP_ID.test(caller)) throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'a forwarded Request names the calling app in `caller`');
  return { kind: 'agent', callerAppId: caller, scope: 'worker' };
}
