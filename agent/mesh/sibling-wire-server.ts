// The agent-to-agent port: the wire protocol over TLS on siblings.listen (docs/wire-protocol.md,
// "Identity and authentication"). Who a Request speaks for and what it may call is
// forward-policy.ts's rule: a sibling agent forwarding an invocation (cluster token), or an SDK
// that failed over from its own agent (the app's token).
//
// Strangers are cheap to hold off: until a connection's first authenticated Request its frames are
// limited to 64 KiB and it must authenticate within 10 s (WireSession's preAuth), and the listener
// takes at most maxConnections at once (net.Server.maxConnections: refused at accept, before any
// TLS work), warning at most once per REFUSED_LOG_INTERVAL_MS with the count refused.
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { ResolvedSiblingsConfig } from '../config/mesh-config.js';
import type { TransportDeps } from '../transports/transport-deps.js';
import { unaryMethods } from '../transports/methods/runtime-methods.js';
import { WireServer } from '../transports/wire/listen.js';
import { WireConnections } from '../transports/wire/wire-connections.js';
import { authorizeMethod, siblingPrincipal } from './forward-policy.js';

/** Connections the sibling port holds at once; more are closed as they arrive. */
export const MAX_SIBLING_CONNECTIONS = 1_024;
/** Before authentication: the largest frame accepted, and how long a connection may stay anonymous. */
export const PRE_AUTH_MAX_FRAME_BYTES = 64 * 1024;
export const PRE_AUTH_TIMEOUT_MS = 10_000;
const REFUSED_LOG_INTERVAL_MS = 10_000;

export interface SiblingWireServerOptions extends Pick<TransportDeps, 'apps' | 'api' | 'metrics' | 'logger' | 'limits' | 'quotas' | 'budgets'> {
  readonly siblings: Pick<ResolvedSiblingsConfig, 'listen' | 'tls' | 'clusterTokenSha256'>;
  readonly frameTimeoutMs?: number | undefined;
  readonly maxConnections?: number | undefined;
  readonly preAuthTimeoutMs?: number | undefined;
}

export class SiblingWireServer extends WireServer<tls.Server> {
  readonly #o: SiblingWireServerOptions;
  readonly #log: Logger;
  readonly #connections: WireConnections;
  readonly #clusterToken: Buffer | undefined;
  /** Connections refused over the cap since the last warning, and when that warning was. */
  #refused = 0;
  #refusedLoggedAt = 0;

  constructor(options: SiblingWireServerOptions) {
    super('SiblingWireServer');
    this.#o = options;
    this.#log = options.logger.child({ component: 'wire-siblings' });
    const sha = options.siblings.clusterTokenSha256;
    this.#clusterToken = sha === '' ? undefined : Buffer.from(sha, 'hex');
    this.#connections = new WireConnections(
      {
        api: options.api,
        unary: unaryMethods(options.api),
        metrics: options.metrics,
        logger: this.#log,
        quotas: options.quotas,
        budgets: options.budgets,
        maxBodyBytes: options.limits.maxBodyBytes,
        frameTimeoutMs: options.frameTimeoutMs,
        anonymousLabel: '-',
        preAuth: { maxFrameBytes: PRE_AUTH_MAX_FRAME_BYTES, timeoutMs: options.preAuthTimeoutMs ?? PRE_AUTH_TIMEOUT_MS },
        authorize: authorizeMethod,
      },
      'siblings',
    );
  }

  protected override get sessions(): WireConnections {
    return this.#connections;
  }

  /** The bound TCP port; 0 before start(). */
  get port(): number {
    const address = this.server?.address();
    return address !== null && typeof address === 'object' ? address.port : 0;
  }

  async start(): Promise<void> {
    this.assertStartable();
    const { listen: at, tls: t } = this.#o.siblings;
    if (at === undefined || t === undefined) throw new Error('SiblingWireServer needs siblings.listen and siblings.tls');
    const [cert, key, ca] = await Promise.all([readFile(t.certFile), readFile(t.keyFile), t.caFile === undefined ? undefined : readFile(t.caFile)]);
    const server = tls.createServer({
      cert,
      key,
      ...(ca === undefined ? {} : { ca }),
      requestCert: ca !== undefined,
      rejectUnauthorized: t.requireClientCert,
      minVersion: 'TLSv1.2',
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      this.#connections.accept(socket, (header) => siblingPrincipal(header, this.#o.apps, this.#clusterToken));
    });
    server.maxConnections = this.#o.maxConnections ?? MAX_SIBLING_CONNECTIONS;
    server.on('drop', () => this.#onRefused(server.maxConnections));
    // A failed handshake is the client's problem; it never reaches a session.
    server.on('tlsClientError', (err) => this.#log.info({ err: err.message }, 'sibling TLS handshake failed'));
    await this.bind(server, { host: at.host, port: at.port }, this.#log);
    this.#log.info({ host: at.host, port: this.port, mutualTls: ca !== undefined }, 'sibling wire port listening');
  }


  /** Over the cap: Node closed the connection at accept; say so, at most once per interval. */
  #onRefused(max: number): void {
    this.#refused += 1;
    const now = Date.now();
    if (now - this.#refusedLoggedAt < REFUSED_LOG_INTERVAL_MS) return;
    this.#log.warn({ refused: this.#refused, maxConnections: max }, 'sibling port at its connection limit: refusing new connections');
    this.#refused = 0;
    this.#refusedLoggedAt = now;
  }

}
