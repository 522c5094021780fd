// Connections to sibling agents: per sibling address one WireChannel of siblings.poolSize TLS
// connections (CA, client certificate and server name from siblings.tls), opened on first use and
// shared by every call to that sibling. The cluster token, when this agent knows it, goes in each
// forwarded Request's `token`: that (or our client certificate, under mutual TLS) is what tells
// the sibling we are an agent and not an app.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ResolvedSiblingsConfig } from '../config/mesh-config.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { WireConnection, type WireTlsOptions } from '../../sdk/wire/wire-connection.js';
import type { SiblingAddress } from './sibling-directory.js';
import { WireChannel } from './wire-channel.js';

export interface SiblingPoolOptions {
  readonly siblings: ResolvedSiblingsConfig;
  readonly maxFrameBytes: number;
  readonly metrics?: AgentMetrics | undefined;
  readonly logger: Logger;
}

export class SiblingPool {
  readonly #o: SiblingPoolOptions;
  readonly #log: Logger;
  readonly #tls: WireTlsOptions;
  readonly #channels = new Map<string, WireChannel>();
  #closed = false;

  /** Reads the certificate files once (a missing file fails the worker's start, not a call). */
  constructor(options: SiblingPoolOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'sibling-pool' });
    const t = options.siblings.tls;
    this.#tls =
      t === undefined
        ? {}
        : {
            cert: readFileSync(t.certFile),
            key: readFileSync(t.keyFile),
            ...(t.caFile === undefined ? {} : { ca: readFileSync(t.caFile) }),
            ...(t.serverName === undefined ? {} : { servername: t.serverName }),
          };
  }

  /** The channel to `address`, created on first use. */
  channel(address: SiblingAddress): WireChannel {
    const key = `${address.host}:${address.port}`;
    let ch = this.#channels.get(key);
    if (ch !== undefined) return ch;
    const s = this.#o.siblings;
    ch = new WireChannel({
      name: `sibling:${address.name}`,
      size: s.poolSize,
      agentId: s.agentId,
      token: s.clusterToken,
      logger: this.#log,
      onConnections: (d) => this.#o.metrics?.meshConnections.inc({ kind: 'sibling' }, d),
      connect: () =>
        WireConnection.connect({
          endpoint: { host: address.host, port: address.port, tls: this.#tls },
          connectTimeoutMs: s.connectTimeoutMs,
          maxFrameBytes: this.#o.maxFrameBytes,
        }),
    });
    if (this.#closed) void ch.close();
    this.#channels.set(key, ch);
    return ch;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#channels.values()].map((c) => c.close()));
  }
}
