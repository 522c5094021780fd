// What a reload may not do silently: hide data. A component's data is found by its building block,
// name, type, sharing and the metadata that says where its keys live within its backend (a SQLite
// file, a Redis database, key prefix and layout, a Kafka topic prefix, a configuration file). The
// backend's address (a Redis url, Kafka brokers) may change: moving to another server, with the
// data or not, is an operator's deliberate act, and the usual reason is the same data reached
// another way (a new host name, a password in the url).
// Changing any of those — or renaming the component, which a reload sees as one removed and one
// added of the same block — makes the new generation look somewhere else, and the apps' data
// would seem gone. Such a reload is refused with HEARTH_ERR_CONFIG_INVALID naming the component
// and what changed; the operator makes the move on purpose (docs/operations.md, "Reload").
// Tuning (timeouts, poll intervals) changes freely, and so do components added or removed alone.
import type { HearthConfig, ResolvedComponentConfig } from '../../agent/config/load-config.js';

/** Metadata keys that place a component's data, by implementation (`<block>.<impl>`'s impl). */
const PLACEMENT_KEYS: Readonly<Record<string, readonly string[]>> = {
  sqlite: ['path'],
  file: ['path'],
  redis: ['db', 'keyPrefix', 'keyLayout', 'hash'],
  kafka: ['topicPrefix'],
};

function placement(c: ResolvedComponentConfig): string {
  const keys = PLACEMENT_KEYS[c.impl] ?? [];
  return JSON.stringify([c.type, c.shared, ...keys.map((k) => c.metadata[k] ?? null)]);
}

/** Why `next` would hide data `current` serves (empty when it would not). */
export function dataHidingChanges(current: HearthConfig, next: HearthConfig): string[] {
  const problems: string[] = [];
  const key = (c: ResolvedComponentConfig): string => `${c.block}/${c.name}`;
  const after = new Map(next.components.map((c) => [key(c), c]));
  const removed: ResolvedComponentConfig[] = [];
  for (const c of current.components) {
    const n = after.get(key(c));
    if (n === undefined) {
      removed.push(c);
      continue;
    }
    if (n.type !== c.type) problems.push(`component "${c.name}" (${c.block}) changes type ${c.type} → ${n.type}: its data would be out of reach`);
    else if (n.shared !== c.shared) problems.push(`component "${c.name}" changes shared ${c.shared} → ${n.shared}: every app's keys would move`);
    else if (placement(n) !== placement(c)) {
      const keys = (PLACEMENT_KEYS[c.impl] ?? []).filter((k) => JSON.stringify(c.metadata[k] ?? null) !== JSON.stringify(n.metadata[k] ?? null));
      problems.push(`component "${c.name}" changes where its data lives (metadata ${keys.join(', ')}): its data would be out of reach`);
    }
  }
  const before = new Set(current.components.map(key));
  for (const c of removed) {
    const added = next.components.find((n) => n.block === c.block && n.type === c.type && !before.has(key(n)));
    if (added !== undefined) {
      problems.push(`component "${c.name}" (${c.block}) is renamed "${added.name}": its data is keyed by the name and would be out of reach`);
    }
  }
  return problems;
}
