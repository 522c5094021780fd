// The view of the configured components the API layer needs. `ComponentSet` satisfies it
// structurally; keeping it here lets the building blocks depend on the shape, not the wiring.
import type { ComponentEntry } from '../components/component-set.js';
import type { ConfigurationStore } from '../components/configuration-store.js';
import type { LockStore } from '../components/lock-store.js';
import type { PubSubBroker } from '../components/pubsub-broker.js';
import type { SequencerStore } from '../components/sequencer-store.js';
import type { StateStore } from '../components/state-store.js';

export interface ComponentLookup {
  state(name: string): StateStore | undefined;
  pubsub(name: string): PubSubBroker | undefined;
  lock(name: string): LockStore | undefined;
  sequencer(name: string): SequencerStore | undefined;
  configuration(name: string): ConfigurationStore | undefined;
  list(): readonly ComponentEntry[];
}
