// Shared setup for the component tests: temp dirs (always removed), silent logger, contexts.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import type { Component, ComponentContext } from '../../agent/components/component.js';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { registerEmbeddedComponents } from '../../agent/components/setup.js';
import type { BuildingBlock, LimitsConfig } from '../../agent/config/config-schema.js';
import type { ResolvedComponentConfig } from '../../agent/config/load-config.js';
import type { SubscribeOptions } from '../../agent/components/pubsub-broker.js';

export const LIMITS: LimitsConfig = { maxBodyBytes: 4 << 20, maxKeyBytes: 1024, maxBulkKeys: 1000, maxTransactionOps: 1000, workerHeapMb: 0 };

export const silentLogger: Logger = pino({ level: 'silent' });

export function componentConfig(name: string, type: string, metadata: Record<string, unknown> = {}): ResolvedComponentConfig {
  const [block = '', impl = ''] = type.split('.');
  return { name, type, shared: false, metadata, block: block as BuildingBlock, impl };
}

/** Temp directories created by a test file; remove them all in test.after.always. */
export class TempDirs {
  private readonly dirs: string[] = [];

  async make(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hx-'));
    this.dirs.push(dir);
    return dir;
  }

  async removeAll(): Promise<void> {
    await Promise.all(this.dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  }
}

export function embeddedRegistry(): ComponentRegistry {
  const registry = new ComponentRegistry();
  registerEmbeddedComponents(registry);
  return registry;
}

export function context(config: ResolvedComponentConfig, stateDir: string, configDir = stateDir, logger = silentLogger): ComponentContext {
  return { config, stateDir, configDir, limits: LIMITS, logger };
}

/** Creates and starts one component of `type` through the real registry. */
export async function startComponent<T extends Component>(
  type: string,
  stateDir: string,
  options: { name?: string; metadata?: Record<string, unknown>; configDir?: string } = {},
): Promise<T> {
  const ctx = context(componentConfig(options.name ?? 'default', type, options.metadata), stateDir, options.configDir);
  const component = (await embeddedRegistry().create(ctx)) as T;
  try {
    await component.start();
  } catch (err) {
    component.destroy();
    throw err;
  }
  return component;
}

/** Subscription options as the pub/sub building block makes them (the app is the group's prefix); `extra` overrides. */
export function subscribeOptions(topic: string, group: string, extra: Partial<SubscribeOptions> = {}): SubscribeOptions {
  return {
    topic,
    group,
    app: group.split('||')[0] ?? group,
    durable: true,
    idleMs: 3_600_000,
    maxGroups: 10_000,
    ackDeadlineMs: 30_000,
    maxDeliveryAttempts: 5,
    deadLetterTopic: '',
    maxInFlight: 100,
    ...extra,
  };
}
