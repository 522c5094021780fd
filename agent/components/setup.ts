// Registers the embedded components (no server needed). The entry point calls this explicitly
// (STYLE.md 4); Redis/Kafka components register from their own setup functions.
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
