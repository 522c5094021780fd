// The agent-to-agent port: the wire protocol over TLS on siblings.listen (docs/wire-protocol.md,
// "Identity and authentication"). Who a Request speaks for and what it may call is
// forward-policy.ts's rule: a sibling agent forwarding an invocation (cluster token), or an SDK
// that failed over from its own agent (the app's token).
//
// Strangers are cheap to hold off. A plain TCP listener takes each connection first, and
// SiblingAdmission caps it per source address (and net.Server.maxConnections overall) before any
// TLS work, then hands it to a tls.Server that never listens itself ('connection' is the
// documented way in). The handshake must finish within siblings.handshakeTimeoutMs (Node only
// reports a timed-out handshake, so the socket is destroyed here), and the connection must
// authenticate within siblings.signInTimeoutMs of accept; until then its frames are limited to
// 64 KiB, and siblings.maxAuthFailures refused Requests close it (WireSession's preAuth).
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { ResolvedSiblingsConfig } from '../config/mesh-config.js';
import type { TransportDeps } from '../transports/transport-deps.js';
import { unaryMethods } from '../transports/methods/runtime-methods.js';
import { WireServer } from '../transports/wire/listen.js';
import { WireConnections } from '../transports/wire/wire-connections.js';
import { authorizeMethod, siblingPrincipal, type SiblingProof } from './forward-policy.js';
import { SiblingAdmission } from './sibling-admission.js';

/** Before authentication: the largest frame accepted. */
export const PRE_AUTH_MAX_FRAME_BYTES = 64 * 1024;

/** The sibling port's settings: where, TLS, the cluster token and its limits. */
export type SiblingPortConfig = Pick<
  ResolvedSiblingsConfig,
  'listen' | 'tls' | 'clusterTokenSha256' | 'handshakeTimeoutMs' | 'signInTimeoutMs' | 'maxConnections' | 'maxConnectionsPerAddress' | 'maxAuthFailures'
>;

export interface SiblingWireServerOptions extends Pick<TransportDeps, 'apps' | 'api' | 'metrics' | 'logger' | 'limits' | 'quotas' | 'budgets'> {
  readonly siblings: SiblingPortConfig;
  readonly frameTimeoutMs?: number | undefined;
  /**
   * A signed-in connection with nothing open for this long is told to go (Goaway) and closed
   * (budgets.idleTimeoutMs): idle sessions must not hold the per-address places other apps of the
   * same host need. None when undefined.
   */
  readonly idleTimeoutMs?: number | undefined;
}

export class SiblingWireServer extends WireServer {
  readonly #o: SiblingWireServerOptions;
  readonly #log: Logger;
  readonly #connections: WireConnections;
  readonly #admission: SiblingAdmission;
  readonly #clusterToken: Buffer | undefined;

  constructor(options: SiblingWireServerOptions) {
    super('SiblingWireServer');
    this.#o = options;
    const s = options.siblings;
    this.#log = options.logger.child({ component: 'wire-siblings' });
    const sha = s.clusterTokenSha256;
    this.#clusterToken = sha === '' ? undefined : Buffer.from(sha, 'hex');
    this.#admission = new SiblingAdmission({
      maxConnections: s.maxConnections,
      maxConnectionsPerAddress: s.maxConnectionsPerAddress,
      signInTimeoutMs: s.signInTimeoutMs,
      metrics: options.metrics,
      logger: this.#log,
    });
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
        idleTimeoutMs: options.idleTimeoutMs,
        anonymousLabel: '-',
        preAuth: {
          maxFrameBytes: PRE_AUTH_MAX_FRAME_BYTES,
          timeoutMs: s.signInTimeoutMs,
          maxFailures: s.maxAuthFailures,
          onClosed: (reason, address) => this.#admission.closed(reason, address),
        },
        authorize: authorizeMethod,
        meshInvoke: true,
      },
      'siblings',
    );
  }

  protected override get sessions(): WireConnections {
    return this.#connections;
  }

  /** Stops accepting and drains the sessions; connections still in their TLS handshake are closed at once. */
  override close(graceMs: number): Promise<void> {
    const closing = super.close(graceMs);
    this.#admission.destroyHandshakes();
    return closing;
  }

  override destroy(): void {
    super.destroy();
    this.#admission.destroyHandshakes();
  }

  /** The bound TCP port; 0 before start(). */
  get port(): number {
    const address = this.server?.address();
    return address !== null && typeof address === 'object' ? address.port : 0;
  }

  async start(): Promise<void> {
    this.assertStartable();
    const s = this.#o.siblings;
    const { listen: at, tls: t } = s;
    if (at === undefined || t === undefined) throw new Error('SiblingWireServer needs siblings.listen and siblings.tls');
    const [cert, key, ca] = await Promise.all([readFile(t.certFile), readFile(t.keyFile), t.caFile === undefined ? undefined : readFile(t.caFile)]);
    const handshakes = tls.createServer({
      cert,
      key,
      ...(ca === undefined ? {} : { ca }),
      requestCert: ca !== undefined,
      rejectUnauthorized: t.requireClientCert,
      minVersion: 'TLSv1.2',
      handshakeTimeout: s.handshakeTimeoutMs,
    });
    handshakes.on('secureConnection', (socket: tls.TLSSocket) => {
      const openedAt = this.#admission.secured(socket);
      const proof: SiblingProof = {};
      this.#connections.accept(socket, (header) => siblingPrincipal(header, this.#o.apps, this.#clusterToken, proof), undefined, openedAt);
    });
    // A failed or timed-out handshake is the client's problem; it never reaches a session.
    handshakes.on('tlsClientError', (err: Error & { code?: string }, socket: tls.TLSSocket) => {
      this.#log.debug({ err: err.message }, 'sibling TLS handshake failed');
      this.#admission.handshakeFailed(socket, err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT');
    });
    const server = net.createServer((socket) => {
      if (this.#admission.admit(socket)) handshakes.emit('connection', socket);
    });
    server.maxConnections = s.maxConnections;
    server.on('drop', (data) => this.#admission.refused('max_connections', data?.remoteAddress));
    await this.bind(server, { host: at.host, port: at.port }, this.#log);
    this.#log.info({ host: at.host, port: this.port, mutualTls: ca !== undefined }, 'sibling wire port listening');
  }
}
