// Registers the component types this build implements. The entry point calls these explicitly,
// so what a worker can build is visible in one place and no import registers anything as a side
// effect: the embedded ones need no server, the Redis and Kafka ones connect to the user's.
import type { ComponentRegistry } from './component-registry.js';
import { FileConfigurationStore } from './file/file-configuration-store.js';
import { KafkaPubSubBroker } from './kafka/kafka-pubsub-broker.js';
import { RedisConfigurationStore } from './redis/redis-configuration-store.js';
import { RedisLockStore } from './redis/redis-lock-store.js';
import { RedisSequencerStore } from './redis/redis-sequencer-store.js';
import { RedisServiceRegistry } from './redis/redis-service-registry.js';
import { RedisStateStore } from './redis/redis-state-store.js';
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

export function registerRedisComponents(registry: ComponentRegistry): void {
  registry.register('state.redis', (ctx) => new RedisStateStore(ctx));
  registry.register('lock.redis', (ctx) => new RedisLockStore(ctx));
  registry.register('sequencer.redis', (ctx) => new RedisSequencerStore(ctx));
  registry.register('configuration.redis', (ctx) => new RedisConfigurationStore(ctx));
  registry.register('registry.redis', (ctx) => new RedisServiceRegistry(ctx));
}

export function registerKafkaComponents(registry: ComponentRegistry): void {
  registry.register('pubsub.kafka', (ctx) => new KafkaPubSubBroker(ctx));
}

/** Every component type of this build: what a worker registers and the schema accepts. */
export function registerAllComponents(registry: ComponentRegistry): void {
  registerEmbeddedComponents(registry);
  registerRedisComponents(registry);
  registerKafkaComponents(registry);
}
