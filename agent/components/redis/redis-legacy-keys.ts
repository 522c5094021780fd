// Finding data a component left in the legacy layout (earlier builds' keys) while it now uses the
// isolated one: nothing is moved or deleted (docs/components.md, "Upgrading from the shared key
// space"), but an operator who upgraded without `keyLayout: legacy` should learn at once why the
// data seems gone. One EXISTS for the configuration hash; a bounded SCAN elsewhere, so the answer
// can miss data in a large database; skipped where the legacy keys cannot be told from anyone
// else's (a shared state store's bare keys) and for SCAN in Cluster mode (it would read one node).
import { inKeySpace, redisKeyPlan } from '../../config/redis-key-spaces.js';
import type { ResolvedComponentConfig } from '../../config/load-config.js';
import type { RedisClient } from './redis-connection.js';

/** SCAN calls at most, COUNT keys each. */
const SCAN_CALLS = 10;
const SCAN_COUNT = 1000;

/**
 * A key of the component's legacy layout present in Redis, or undefined when none was found. No
 * SCAN starts after `deadline` (epoch ms): a start waits for this, and a slow Redis must not hold it.
 */
export async function findLegacyKey(client: RedisClient, config: ResolvedComponentConfig, cluster: boolean, deadline: number): Promise<string | undefined> {
  const legacy = redisKeyPlan({ ...config, metadata: { ...config.metadata, keyLayout: 'legacy' } });
  const space = legacy.space;
  if (space.rest === 'nothing') return (await client.exists(space.literal)) === 1 ? space.literal : undefined;
  if (cluster || (space.rest === 'anything' && space.literal === legacy.keyPrefix)) return undefined;
  const match = `${globEscape(space.literal)}*${space.rest === 'app-key' ? '||*' : ''}`;
  let cursor = '0';
  for (let i = 0; i < SCAN_CALLS && Date.now() < deadline; i++) {
    const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
    const found = keys.find((k) => inKeySpace(space, k) && (space.rest !== 'app-key' || oneSeparator(k.slice(space.literal.length))));
    if (found !== undefined) return found;
    cursor = next;
    if (cursor === '0') return undefined;
  }
  return undefined;
}

/** An app key `<appId>||<key>` holds one separator (keys cannot contain it): two are a lock or counter. */
function oneSeparator(appKey: string): boolean {
  return appKey.indexOf('||') === appKey.lastIndexOf('||');
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
