// The configured components of one agent worker: created and started in configuration order,
// closed in reverse (the last started depends on nothing started after it), looked up by building
// block and name in one map read — every call resolves its component, so no list is scanned.
import type { Logger } from 'pino';
import type { BuildingBlock, LimitsConfig } from '../config/config-schema.js';
import type { ResolvedComponentConfig } from '../config/load-config.js';
import { HearthError, toHearthError } from '../errors/hearth-error.js';
import type { Component, ComponentContext } from './component.js';
import type { ComponentRegistry } from './component-registry.js';
import type { ConfigurationStore } from './configuration-store.js';
import type { LockStore } from './lock-store.js';
import type { PubSubBroker } from './pubsub-broker.js';
import type { SequencerStore } from './sequencer-store.js';
import type { ServiceRegistry } from './service-registry.js';
import type { StateStore } from './state-store.js';

const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

/** Methods a component must have to serve its block; catches a factory registered under the wrong block. */
const BLOCK_METHODS: Record<BuildingBlock, readonly string[]> = {
  state: ['get', 'bulkGet', 'set', 'delete', 'transact'],
  pubsub: ['publish', 'subscribe', 'pull', 'ack', 'nack'],
  lock: ['tryLock', 'unlock', 'keepAlive'],
  sequencer: ['next'],
  configuration: ['get', 'subscribe'],
  registry: ['register', 'deregister', 'lookup', 'agents'],
};

export interface ComponentSetBase {
  readonly stateDir: string;
  readonly configDir: string;
  readonly limits: Readonly<LimitsConfig>;
  readonly logger: Logger;
  /** Per component; after it, close() gives up waiting and destroys that component. */
  readonly closeTimeoutMs?: number;
}

export interface ComponentEntry {
  readonly name: string;
  readonly type: string;
  readonly block: BuildingBlock;
  readonly shared: boolean;
  readonly component: Component;
}

/** What each building block's components implement. */
export interface BlockComponents {
  readonly state: StateStore;
  readonly pubsub: PubSubBroker;
  readonly lock: LockStore;
  readonly sequencer: SequencerStore;
  readonly configuration: ConfigurationStore;
  readonly registry: ServiceRegistry;
}

/** A component found by block and name, and whether apps share its keys (no `<appId>||` prefix). */
export interface FoundComponent<T> {
  readonly component: T;
  readonly shared: boolean;
}

export interface ComponentHealthEntry {
  readonly name: string;
  readonly type: string;
  readonly block: BuildingBlock;
  readonly healthy: boolean;
  readonly detail?: string;
}

export class ComponentSet {
  private readonly entries: ComponentEntry[];
  /** `<block>/<name>` → entry, filled as components start. */
  private readonly byKey = new Map<string, ComponentEntry>();
  private readonly logger: Logger;
  private readonly closeTimeoutMs: number;
  private closing: Promise<void> | undefined;
  private destroyed = false;

  private constructor(entries: ComponentEntry[], logger: Logger, closeTimeoutMs: number) {
    this.entries = entries;
    this.logger = logger;
    this.closeTimeoutMs = closeTimeoutMs;
  }

  /**
   * Creates and starts every component in order. If one fails, the started ones are closed in
   * reverse and the error is rethrown (same code) with the component's name in the message.
   */
  static async start(
    configs: readonly ResolvedComponentConfig[],
    registry: ComponentRegistry,
    base: ComponentSetBase,
  ): Promise<ComponentSet> {
    const logger = base.logger.child({ component: 'component-set' });
    const set = new ComponentSet([], logger, base.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    for (const config of configs) {
      const ctx: ComponentContext = {
        config,
        stateDir: base.stateDir,
        configDir: base.configDir,
        limits: base.limits,
        logger: base.logger,
      };
      let component: Component | undefined;
      try {
        component = await registry.create(ctx);
        checkBlock(component, config);
        await component.start();
      } catch (err) {
        if (component) destroyQuietly(component, logger, config.name);
        await set.close();
        const cause = toHearthError(err);
        throw new HearthError(
          cause.code,
          `component "${config.name}" (${config.type}) failed to start: ${(err as Error).message}`,
          { ...cause.details, component: config.name, type: config.type },
          { cause: err },
        );
      }
      set.add({ name: config.name, type: config.type, block: config.block, shared: config.shared, component });
      logger.info({ name: config.name, type: config.type }, 'component started');
    }
    return set;
  }

  /** The component of `block` named `name`, with its sharing; checkBlock made sure it implements the block. */
  find<B extends BuildingBlock>(block: B, name: string): FoundComponent<BlockComponents[B]> | undefined {
    const e = this.byKey.get(`${block}/${name}`);
    return e === undefined ? undefined : { component: e.component as unknown as BlockComponents[B], shared: e.shared };
  }

  state(name: string): StateStore | undefined {
    return this.find('state', name)?.component;
  }

  pubsub(name: string): PubSubBroker | undefined {
    return this.find('pubsub', name)?.component;
  }

  lock(name: string): LockStore | undefined {
    return this.find('lock', name)?.component;
  }

  sequencer(name: string): SequencerStore | undefined {
    return this.find('sequencer', name)?.component;
  }

  configuration(name: string): ConfigurationStore | undefined {
    return this.find('configuration', name)?.component;
  }

  registry(name: string): ServiceRegistry | undefined {
    return this.find('registry', name)?.component;
  }

  list(): ComponentEntry[] {
    return [...this.entries];
  }

  health(): ComponentHealthEntry[] {
    return this.entries.map((e) => {
      let h;
      try {
        h = e.component.health();
      } catch (err) {
        h = { healthy: false, detail: `health() threw: ${(err as Error).message}` };
      }
      return { name: e.name, type: e.type, block: e.block, healthy: h.healthy, ...(h.detail !== undefined ? { detail: h.detail } : {}) };
    });
  }

  /** Graceful, reverse start order; each component gets closeTimeoutMs, then is destroyed. */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  /** Forced, synchronous, reverse start order. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const e of [...this.entries].reverse()) destroyQuietly(e.component, this.logger, e.name);
  }

  private add(entry: ComponentEntry): void {
    this.entries.push(entry);
    this.byKey.set(`${entry.block}/${entry.name}`, entry);
  }

  private async closeAll(): Promise<void> {
    for (const e of [...this.entries].reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        // Ref'd: the bound must fire even if the hung component holds nothing else open.
        timer = setTimeout(() => resolve('timeout'), this.closeTimeoutMs);
      });
      try {
        const result = await Promise.race([e.component.close().then(() => 'closed' as const), timedOut]);
        if (result === 'timeout') {
          this.logger.warn({ name: e.name, timeoutMs: this.closeTimeoutMs }, 'component did not close in time; destroying it');
          destroyQuietly(e.component, this.logger, e.name);
        }
      } catch (err) {
        this.logger.warn({ err, name: e.name }, 'component close failed; destroying it');
        destroyQuietly(e.component, this.logger, e.name);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

function checkBlock(component: Component, config: ResolvedComponentConfig): void {
  const methods = BLOCK_METHODS[config.block] ?? [];
  const missing = methods.filter((m) => typeof (component as unknown as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) {
    throw new HearthError(
      'HEARTH_ERR_CONFIG_INVALID',
      `type "${config.type}" does not implement the ${config.block} building block (missing ${missing.join(', ')})`,
    );
  }
}

function destroyQuietly(component: Component, logger: Logger, name: string): void {
  try {
    component.destroy();
  } catch (err) {
    logger.warn({ err, name }, 'component destroy failed');
  }
}
