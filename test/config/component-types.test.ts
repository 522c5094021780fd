// The schema's list of component types is what `hearth validate` accepts; the registry is what a
// worker can build. They must be the same list, or validate passes configs workers refuse.
import test from 'ava';
import { COMPONENT_TYPES } from '../../agent/config/config-schema.js';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { registerAllComponents } from '../../agent/components/setup.js';

test('every component type the schema accepts is registered, and nothing else is', (t) => {
  const registry = new ComponentRegistry();
  registerAllComponents(registry);
  t.deepEqual([...registry.types()].sort(), [...COMPONENT_TYPES].sort());
});
