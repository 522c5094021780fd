// Lifecycle shared by the Redis components: acquire the shared connection on start (without
// failing the worker when Redis is down), map every client error to the catalog, release on close.
import type { Logger } from 'pino';
import type { ResolvedComponentConfig } from '../../config/load-config.js';
import { RedisKeyProblem, redisKeyPlan, type RedisKeyPlan } from '../../config/redis-key-spaces.js';
import { HearthError } from '../../errors/hearth-error.js';
import type { Component, ComponentContext, ComponentHealth } from '../component.js';
import { MetadataReader } from '../component-metadata.js';
import { RedisConnection, redisConnectionOptions, toRedisError, type RedisClient, type RedisConnectionOptions } from './redis-connection.js';
import { findLegacyKey } from './redis-legacy-keys.js';

/** `closing`: beforeClose() runs and may still use the connection (a last deregister, a commit). */
type Phase = 'new' | 'started' | 'closing' | 'closed';

export abstract class RedisComponent implements Component {
  protected readonly name: string;
  protected readonly logger: Logger;
  /** Where this component's keys live: `keys.prefix` starts every key it writes (config/redis-key-spaces.ts). */
  protected readonly keys: RedisKeyPlan;
  private readonly config: ResolvedComponentConfig;
  private readonly options: RedisConnectionOptions;
  private connection: RedisConnection | undefined;
  private phase: Phase = 'new';
  private closing: Promise<void> | undefined;

  protected constructor(ctx: ComponentContext) {
    this.name = ctx.config.name;
    this.logger = ctx.logger.child({ component: ctx.config.name, type: ctx.config.type });
    this.options = redisConnectionOptions(ctx);
    this.config = ctx.config;
    try {
      this.keys = redisKeyPlan(ctx.config);
    } catch (err) {
      if (err instanceof RedisKeyProblem) throw new MetadataReader(ctx).bad(err.key, err.what);
      throw err;
    }
  }

  async start(): Promise<void> {
    if (this.phase === 'started') return;
    if (this.phase === 'closed') throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `component "${this.name}" is closed`);
    this.connection = RedisConnection.acquire(this.options, this.logger);
    this.phase = 'started';
    const connected = await this.connection.connect();
    if (this.keys.layout === 'legacy') {
      this.logger.warn(
        { keyLayout: 'legacy', keys: this.keys.prefix },
        'metadata.keyLayout legacy is deprecated: these keys share one key space with every Redis component on the database, where an app can reach other apps\' data and Hearth\'s own keys; move the data to the isolated layout (docs/components.md)',
      );
    } else if (connected) {
      await this.warnOfLegacyData();
    }
    await this.afterStart();
  }

  /** Data of this component in the legacy layout is not read any more: say so once, at start. */
  private async warnOfLegacyData(): Promise<void> {
    let found: string | undefined;
    try {
      found = await findLegacyKey(this.client, this.config, this.options.mode === 'cluster', Date.now() + this.options.commandTimeoutMs);
    } catch (err) {
      this.logger.debug({ err }, 'could not look for keys of the legacy layout');
      return;
    }
    if (found === undefined) return;
    this.logger.warn(
      { legacyKey: found, keys: this.keys.prefix },
      'Redis holds keys of the legacy layout that this component no longer reads (it keeps its keys under the prefix in `keys`): to keep using them, set metadata.keyLayout: legacy (docs/components.md, "Upgrading from the shared key space")',
    );
  }

  /** Hook for subclasses (e.g. subscribe connections); runs after the shared connection is up or gave up waiting. */
  protected async afterStart(): Promise<void> {
    // nothing by default
  }

  /** Hook for subclasses: stop timers and extra connections before the shared one is released. */
  protected async beforeClose(): Promise<void> {
    // nothing by default
  }

  /** Hook for subclasses: synchronous forced cleanup. */
  protected onDestroy(): void {
    // nothing by default
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    if (this.phase !== 'started') {
      this.phase = 'closed';
      return;
    }
    this.phase = 'closing';
    try {
      await this.beforeClose();
    } finally {
      this.phase = 'closed';
      this.connection?.release();
      this.connection = undefined;
    }
  }

  destroy(): void {
    if (this.phase === 'closed' && this.connection === undefined) return;
    this.phase = 'closed';
    try {
      this.onDestroy();
    } finally {
      this.connection?.release();
      this.connection = undefined;
    }
  }

  health(): ComponentHealth {
    if (this.phase !== 'started' || !this.connection) return { healthy: false, detail: `component is ${this.phase}` };
    return this.connection.health();
  }

  /** The shared connection; throws HEARTH_ERR_BACKEND_UNAVAILABLE before start or after close. */
  protected get redis(): RedisConnection {
    this.assertStarted();
    return this.connection as RedisConnection;
  }

  /** Throws HEARTH_ERR_BACKEND_UNAVAILABLE unless started (or closing: beforeClose() may still call). */
  protected assertStarted(): void {
    if ((this.phase !== 'started' && this.phase !== 'closing') || !this.connection) {
      throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `component "${this.name}" is not started`);
    }
  }

  protected get client(): RedisClient {
    return this.redis.client;
  }

  /** Runs one client call and maps what it throws (HearthErrors pass through). */
  protected async call<T>(fn: (client: RedisClient) => Promise<T>): Promise<T> {
    const client = this.client;
    try {
      return await fn(client);
    } catch (err) {
      throw toRedisError(err, this.name);
    }
  }
}
