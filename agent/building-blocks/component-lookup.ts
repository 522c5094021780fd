// The view of the configured components the API layer needs. `ComponentSet` satisfies it
// structurally; keeping it here lets the building blocks depend on the shape, not the wiring.
import type { BlockComponents, ComponentEntry, FoundComponent } from '../components/component-set.js';
import type { BuildingBlock } from '../config/config-schema.js';

export interface ComponentLookup {
  /** The component of `block` named `name` and whether it is shared; undefined when there is none. */
  find<B extends BuildingBlock>(block: B, name: string): FoundComponent<BlockComponents[B]> | undefined;
  list(): readonly ComponentEntry[];
}
