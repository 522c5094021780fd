// What every configuration store does with a new snapshot of its items: work out what changed
// (a removed key is reported once, with its last value and `deleted: true`) and hand each
// subscriber exactly the changed items among its keys — never an empty event, and a subscriber
// that throws does not stop the others.
import type { Logger } from 'pino';
import type { ConfigurationItem, ConfigurationItems } from './configuration-store.js';

export interface ConfigurationSubscriber {
  /** Empty: every key. */
  readonly keys: ReadonlySet<string>;
  readonly onChange: (items: ConfigurationItems) => void;
}

export type ItemSnapshot = ReadonlyMap<string, ConfigurationItem>;

export function diffItems(prev: ItemSnapshot, next: ItemSnapshot): ConfigurationItems {
  const changed: ConfigurationItems = {};
  for (const [k, item] of next) {
    const old = prev.get(k);
    if (!old || old.value !== item.value || old.version !== item.version || !sameMetadata(old.metadata, item.metadata)) {
      changed[k] = item;
    }
  }
  for (const [k, old] of prev) {
    if (!next.has(k)) changed[k] = { ...old, deleted: true };
  }
  return changed;
}

function sameMetadata(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** Delivers `changed` to every subscriber that asked for any of its keys. */
export function notifySubscribers(subscribers: Iterable<ConfigurationSubscriber>, changed: ConfigurationItems, logger: Logger): void {
  if (Object.keys(changed).length === 0) return;
  logger.info({ changed: Object.keys(changed).length }, 'configuration changed');
  for (const sub of [...subscribers]) {
    const mine: ConfigurationItems = {};
    for (const [k, v] of Object.entries(changed)) if (sub.keys.size === 0 || sub.keys.has(k)) mine[k] = v;
    if (Object.keys(mine).length === 0) continue;
    try {
      sub.onChange(mine);
    } catch (err) {
      logger.error({ err }, 'configuration subscriber threw');
    }
  }
}
