// Lifecycle shared by the Redis components: acquire the shared connection on start (without
// failing the worker when Redis is down), map every client error to the catalog, release on close.
import type { Logger } from 'pino';
import { HearthError } from '../../errors/hearth-error.js';
import type { Component, ComponentContext, ComponentHealth } from '../component.js';
import { MetadataReader } from '../component-metadata.js';
import { RedisConnection, redisConnectionOptions, toRedisError, type RedisClient, type RedisConnectionOptions } from './redis-connection.js';

/** `closing`: beforeClose() runs and may still use the connection (a last deregister, a commit). */
type Phase = 'new' | 'started' | 'closing' | 'closed';

export abstract class RedisComponent implements Component {
  protected readonly name: string;
  protected readonly logger: Logger;
  /** Prepended to every Redis key this component writes (metadata.keyPrefix, default ''). */
  protected readonly keyPrefix: string;
  private readonly options: RedisConnectionOptions;
  private connection: RedisConnection | undefined;
  private phase: Phase = 'new';
  private closing: Promise<void> | undefined;

  protected constructor(ctx: ComponentContext) {
    this.name = ctx.config.name;
    this.logger = ctx.logger.child({ component: ctx.config.name, type: ctx.config.type });
    this.options = redisConnectionOptions(ctx);
    this.keyPrefix = new MetadataReader(ctx).string('keyPrefix') ?? '';
  }

  async start(): Promise<void> {
    if (this.phase === 'started') return;
    if (this.phase === 'closed') throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `component "${this.name}" is closed`);
    this.connection = RedisConnection.acquire(this.options, this.logger);
    this.phase = 'started';
    await this.connection.connect();
    await this.afterStart();
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
