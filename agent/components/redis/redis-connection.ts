// One ioredis client per Redis deployment per worker, shared by every Redis component that points
// at it (ref-counted, like the SQLite connection). Fail fast: no offline queue, a command timeout
// and one retry, so an app call never waits on a Redis that is down; ioredis reconnects in the
// background and health() reports the state for /readyz and metrics.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis, Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { parseRedisNodes, type RedisNode } from '../../config/redis-key-spaces.js';
import { HearthError } from '../../errors/hearth-error.js';
import type { ComponentContext, ComponentHealth } from '../component.js';
import { MetadataReader } from '../component-metadata.js';

export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

/** The connection part of a Redis component's metadata, validated. */
export interface RedisConnectionOptions {
  readonly mode: RedisMode;
  /** standalone: `redis://[user:pass@]host:port[/db]`, `rediss://` for TLS, or a Unix socket path. */
  readonly url: string | undefined;
  /** sentinel: the sentinels; cluster: the seed nodes. */
  readonly nodes: readonly RedisNode[];
  /** sentinel: the master group name. */
  readonly sentinelName: string | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly db: number;
  readonly tls: TlsFiles | undefined;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

export interface TlsFiles {
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly rejectUnauthorized: boolean;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;

export type RedisClient = Redis | Cluster;

/** metadata[key] as nodes, or CONFIG_INVALID naming the bad entry. */
function parseNodes(r: MetadataReader, key: string): readonly RedisNode[] {
  const nodes = parseRedisNodes(r.raw(key));
  if (!Array.isArray(nodes)) throw r.bad(`${key}[${nodes.index}]`, nodes.what);
  return nodes;
}

/**
 * Reads the connection options from a component's metadata:
 * `url` | `nodes` (+ `sentinelName`), `mode`, `username`, `password`, `db`, `tls`, `tlsCaFile`,
 * `tlsCertFile`, `tlsKeyFile`, `tlsRejectUnauthorized`, `connectTimeoutMs`, `commandTimeoutMs`.
 * Secrets come from the config file's `${ENV}` substitution, never from a default.
 */
export function redisConnectionOptions(ctx: ComponentContext): RedisConnectionOptions {
  const r = new MetadataReader(ctx);
  const url = r.string('url');
  const nodes = parseNodes(r, 'nodes');
  const modeRaw = r.string('mode') ?? 'standalone';
  if (modeRaw !== 'standalone' && modeRaw !== 'sentinel' && modeRaw !== 'cluster') {
    throw r.bad('mode', 'must be standalone, sentinel or cluster');
  }
  const mode: RedisMode = modeRaw;
  if (mode === 'standalone' && url === undefined) throw r.bad('url', 'is required (redis://host:port, rediss://… or a socket path)');
  if (mode !== 'standalone' && nodes.length === 0) throw r.bad('nodes', `is required in ${mode} mode (host:port, …)`);
  const sentinelName = r.string('sentinelName');
  if (mode === 'sentinel' && sentinelName === undefined) throw r.bad('sentinelName', 'is required in sentinel mode');
  const resolveFile = (key: string): string | undefined => {
    const f = r.string(key);
    return f === undefined ? undefined : path.resolve(ctx.configDir, f);
  };
  const tlsOn = r.bool('tls', url?.startsWith('rediss://') ?? false);
  const tls: TlsFiles | undefined = tlsOn
    ? {
        ca: resolveFile('tlsCaFile'),
        cert: resolveFile('tlsCertFile'),
        key: resolveFile('tlsKeyFile'),
        rejectUnauthorized: r.bool('tlsRejectUnauthorized', true),
      }
    : undefined;
  return {
    mode,
    url,
    nodes,
    sentinelName,
    username: r.string('username'),
    password: r.string('password'),
    db: r.int('db', 0, 0),
    tls,
    connectTimeoutMs: r.int('connectTimeoutMs', DEFAULT_CONNECT_TIMEOUT_MS),
    commandTimeoutMs: r.int('commandTimeoutMs', DEFAULT_COMMAND_TIMEOUT_MS),
  };
}

function tlsOptions(files: TlsFiles | undefined): RedisOptions['tls'] {
  if (!files) return undefined;
  const read = (f: string | undefined): Buffer | undefined => (f === undefined ? undefined : readFileSync(f));
  return { ca: read(files.ca), cert: read(files.cert), key: read(files.key), rejectUnauthorized: files.rejectUnauthorized };
}

function createClient(o: RedisConnectionOptions): RedisClient {
  const common: RedisOptions = {
    username: o.username,
    password: o.password,
    db: o.db,
    tls: tlsOptions(o.tls),
    connectTimeout: o.connectTimeoutMs,
    commandTimeout: o.commandTimeoutMs,
    // Fail fast while disconnected instead of queueing app calls behind a dead server.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    // Reconnect forever, backing off to 2 s: the component recovers by itself.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  };
  if (o.mode === 'cluster') {
    const opts: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      redisOptions: clusterNodeOptions(common),
    };
    return new Cluster(
      o.nodes.map((n) => ({ host: n.host, port: n.port })),
      opts,
    );
  }
  if (o.mode === 'sentinel') {
    return new Redis({ ...common, sentinels: o.nodes.map((n) => ({ host: n.host, port: n.port })), name: o.sentinelName });
  }
  const url = o.url ?? '';
  if (url.startsWith('redis://') || url.startsWith('rediss://')) return new Redis(url, common);
  return new Redis({ ...common, path: url });
}

/** Per-node options of a Cluster: the cluster itself owns the queue and the retry strategy. */
function clusterNodeOptions(common: RedisOptions): ClusterOptions['redisOptions'] {
  const { enableOfflineQueue: _queue, retryStrategy: _retry, lazyConnect: _lazy, ...rest } = common;
  return rest;
}

/** Canonical identity of a deployment + credentials: components with the same one share a client. */
function connectionKey(o: RedisConnectionOptions): string {
  return JSON.stringify(o);
}

interface Shared {
  readonly connection: RedisConnection;
  refs: number;
}

const shared = new Map<string, Shared>();

export class RedisConnection {
  readonly client: RedisClient;
  readonly options: RedisConnectionOptions;
  private readonly key: string;
  private readonly logger: Logger;
  private lastError: string | undefined;
  private readyOnce: Promise<boolean> | undefined;

  private constructor(options: RedisConnectionOptions, key: string, logger: Logger) {
    this.options = options;
    this.key = key;
    this.logger = logger;
    this.client = createClient(options);
    let wasReady = false;
    this.client.on('error', (err: Error) => {
      // ioredis emits every failed reconnect; log the first of a streak only.
      if (this.lastError !== err.message) this.logger.warn({ err: err.message }, 'redis connection error');
      this.lastError = err.message;
    });
    this.client.on('ready', () => {
      if (wasReady || this.lastError !== undefined) this.logger.info('redis connection ready');
      wasReady = true;
      this.lastError = undefined;
    });
    this.client.on('end', () => this.logger.debug('redis connection ended'));
  }

  /** The shared connection for these options (created on first use); pair with release(). */
  static acquire(options: RedisConnectionOptions, logger: Logger): RedisConnection {
    const key = connectionKey(options);
    const hit = shared.get(key);
    if (hit) {
      hit.refs += 1;
      return hit.connection;
    }
    const connection = new RedisConnection(options, key, logger.child({ redis: describe(options) }));
    shared.set(key, { connection, refs: 1 });
    return connection;
  }

  /**
   * Starts connecting and waits up to connectTimeoutMs for the first ready. Resolves false (never
   * rejects) when Redis is not there yet: the worker still starts, the component reports unhealthy
   * and calls fail fast with HEARTH_ERR_BACKEND_UNAVAILABLE until the background reconnect works.
   */
  connect(): Promise<boolean> {
    this.readyOnce ??= this.connectOnce();
    return this.readyOnce;
  }

  private async connectOnce(): Promise<boolean> {
    const ready = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.options.connectTimeoutMs);
      timer.unref();
      this.client.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    // connect() rejects on the first failure although ioredis keeps retrying; the timer decides.
    this.client.connect().catch(() => undefined);
    const ok = await ready;
    if (!ok) this.logger.warn({ err: this.lastError, timeoutMs: this.options.connectTimeoutMs }, 'redis not reachable at start; retrying in the background');
    return ok;
  }

  /** A second client on the same deployment (for SUBSCRIBE, which takes a connection over). */
  duplicate(): RedisClient {
    return this.client.duplicate();
  }

  health(): ComponentHealth {
    const status = this.client.status;
    if (status === 'ready') return { healthy: true };
    return { healthy: false, detail: `redis ${status}${this.lastError ? `: ${this.lastError}` : ''}` };
  }

  /** Drops one reference; the client quits with the last one. */
  release(): void {
    const entry = shared.get(this.key);
    if (!entry || entry.connection !== this) return;
    entry.refs -= 1;
    if (entry.refs > 0) return;
    shared.delete(this.key);
    this.client.quit().catch(() => this.client.disconnect());
  }

  /** Forced: disconnects now whatever the ref count (destroy paths). */
  destroy(): void {
    const entry = shared.get(this.key);
    if (entry?.connection === this) shared.delete(this.key);
    this.client.disconnect();
  }
}

function describe(o: RedisConnectionOptions): string {
  if (o.mode !== 'standalone') return `${o.mode}:${o.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  // Never log a password that is part of the URL.
  return (o.url ?? '').replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * Maps what ioredis throws to the catalog: connection, timeout and server errors are the backend's
 * problem (HEARTH_ERR_BACKEND_UNAVAILABLE, or HEARTH_ERR_TIMEOUT for a command timeout); our own
 * HearthErrors pass through.
 */
export function toRedisError(err: unknown, component: string): HearthError {
  if (err instanceof HearthError) return err;
  const message = (err as Error | null)?.message ?? String(err);
  // Another type of value sits at the item's name: a data conflict, not an outage.
  if (message.startsWith('WRONGTYPE')) {
    return new HearthError('HEARTH_ERR_INTERNAL', `redis (${component}): ${message}`, { component }, { cause: err });
  }
  if (/timed? ?out/i.test(message)) {
    return new HearthError('HEARTH_ERR_TIMEOUT', `redis (${component}): ${message}`, { component }, { cause: err });
  }
  return new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `redis (${component}): ${message}`, { component }, { cause: err });
}
