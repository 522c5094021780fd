// Registers the component types this build implements. The entry point calls these explicitly,
// so what a worker can build is visible in one place and no import registers anything as a side
// effect: the embedded ones need no server, the Redis and Kafka ones connect to the user's.
import type { ComponentRegistry } from './component-registry.js';
import { FileConfigurationStore } from './file/file-configuration-store.js';
import { SqliteLockStore } from './sqlite/sqlite-lock-store.js';
import { SqlitePubSubBroker } from './sqlite/sqlite-pubsub-broker.js';
import { SqliteSequencerStore } from './sqlite/sqlite-sequencer-store.js';
import { SqliteStateStore } from './sqlite/sqlite-state-store.js';

export function registerEmbeddedComponents(registry: ComponentRegistry): void {
  registry.register('state.sqlite', (ctx) => new SqliteStateStore(ctx));
  registry.register('lock.sqlite', (ctx) => new SqliteLockStore(ctx));
  registry.register('sequencer.sqlite', (ctx) => new SqliteSequencerStore(ctx));
  registry.register('pubsub.sqlite', (ctx) => new SqlitePubSubBroker(ctx));
  registry.register('configuration.file', (ctx) => new FileConfigurationStore(ctx));
}

// Redis and Kafka components are loaded when a configuration first names one: ioredis and kafkajs
// cost an idle worker ~10 MB of RSS it does not need on the embedded default.
export function registerRedisComponents(registry: ComponentRegistry): void {
  registry.register('state.redis', async (ctx) => new (await import('./redis/redis-state-store.js')).RedisStateStore(ctx));
  registry.register('lock.redis', async (ctx) => new (await import('./redis/redis-lock-store.js')).RedisLockStore(ctx));
  registry.register('sequencer.redis', async (ctx) => new (await import('./redis/redis-sequencer-store.js')).RedisSequencerStore(ctx));
  registry.register('configuration.redis', async (ctx) => new (await import('./redis/redis-configuration-store.js')).RedisConfigurationStore(ctx));
  registry.register('registry.redis', async (ctx) => new (await import('./redis/redis-service-registry.js')).RedisServiceRegistry(ctx));
}

export function registerKafkaComponents(registry: ComponentRegistry): void {
  registry.register('pubsub.kafka', async (ctx) => new (await import('./kafka/kafka-pubsub-broker.js')).KafkaPubSubBroker(ctx));
}

/** Every component type of this build: what a worker registers and the schema accepts. */
export function registerAllComponents(registry: ComponentRegistry): void {
  registerEmbeddedComponents(registry);
  registerRedisComponents(registry);
  registerKafkaComponents(registry);
}
