// Connections to sibling agents: per sibling address one WireChannel of siblings.poolSize TLS
// connections (CA, client certificate and server name from siblings.tls), opened on first use and
// shared by every call to that sibling. The cluster token, when this agent knows it, goes in each
// forwarded Request's `token`: that (or our client certificate, under mutual TLS) is what tells
// the sibling we are an agent and not an app.
//
// Registry addresses come and go (an agent restarts on another port, a host leaves): a channel to
// an address the directory has not returned and no call has used for idleMs (3 minutes) is closed
// and dropped, with its connections and ping timer. Static peers are kept for the agent's life.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ResolvedSiblingsConfig } from '../config/mesh-config.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { WireConnection, type WireTlsOptions } from '@hearth/protocol';
import type { SiblingAddress } from './sibling-directory.js';
import { WireChannel } from './wire-channel.js';

export interface SiblingPoolOptions {
  readonly siblings: ResolvedSiblingsConfig;
  readonly maxFrameBytes: number;
  readonly metrics?: AgentMetrics | undefined;
  readonly logger: Logger;
  /** A registry address's channel unused and unlisted this long is closed (default 3 minutes). */
  readonly idleMs?: number | undefined;
  /** For tests: the clock idleness is measured with. */
  readonly clock?: (() => number) | undefined;
}

interface PoolEntry {
  readonly channel: WireChannel;
  /** Last returned by the directory or used by a call. */
  lastSeen: number;
}

const IDLE_MS = 3 * 60_000;

export class SiblingPool {
  readonly #o: SiblingPoolOptions;
  readonly #log: Logger;
  readonly #tls: WireTlsOptions;
  readonly #channels = new Map<string, PoolEntry>();
  /** host:port of the static peers: never dropped. */
  readonly #static: ReadonlySet<string>;
  readonly #idleMs: number;
  readonly #now: () => number;
  readonly #sweeper: NodeJS.Timeout;
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
    this.#static = new Set(options.siblings.peers.map((p) => `${p.host}:${p.port}`));
    this.#idleMs = options.idleMs ?? IDLE_MS;
    this.#now = options.clock ?? Date.now;
    this.#sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(30_000, Math.floor(this.#idleMs / 2))));
    this.#sweeper.unref();
  }

  /** How many channels are open (bounded by the addresses seen in the last idleMs, plus static peers). */
  get size(): number {
    return this.#channels.size;
  }

  /** The directory returned these addresses for a call: their channels stay. */
  seen(addresses: readonly SiblingAddress[]): void {
    if (addresses.length === 0) return;
    const now = this.#now();
    for (const a of addresses) {
      const entry = this.#channels.get(`${a.host}:${a.port}`);
      if (entry !== undefined) entry.lastSeen = now;
    }
  }

  /** Closes and drops the channels of addresses neither listed nor used for idleMs (not static peers). */
  sweep(): void {
    const now = this.#now();
    for (const [key, entry] of this.#channels) {
      if (this.#static.has(key) || entry.channel.inFlight > 0 || now - entry.lastSeen < this.#idleMs) continue;
      this.#channels.delete(key);
      this.#log.debug({ sibling: key }, 'closing the channel to a sibling address no longer listed');
      void entry.channel.close();
    }
  }

  /** The channel to `address`, created on first use. */
  channel(address: SiblingAddress): WireChannel {
    const key = `${address.host}:${address.port}`;
    const found = this.#channels.get(key);
    if (found !== undefined) {
      found.lastSeen = this.#now();
      return found.channel;
    }
    const s = this.#o.siblings;
    const ch = new WireChannel({
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
    this.#channels.set(key, { channel: ch, lastSeen: this.#now() });
    return ch;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    await Promise.all([...this.#channels.values()].map((e) => e.channel.close()));
  }
}
