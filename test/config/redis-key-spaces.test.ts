// Where Redis components keep their keys and the check that refuses components whose keys could
// meet: the decision procedure against brute force, the layouts against crafted app ids, keys and
// keyPrefixes, and the refusal as `hearth validate` and start get it from the loader.
import path from 'node:path';
import test from 'ava';
import { stringify as toYaml } from 'yaml';
import type { ComponentConfig } from '../../agent/config/config-schema.js';
import { ConfigError, loadConfig, parseConfig } from '../../agent/config/load-config.js';
import { checkRedisKeySpaces, inKeySpace, keySpacesMeet, redisKeyPlan, type KeySpace } from '../../agent/config/redis-key-spaces.js';
import { repoRoot } from '../support/repo-root.js';

// --- The decision procedure ------------------------------------------------------------------------

/** Every string over `alphabet` up to `max` characters. */
function strings(alphabet: readonly string[], max: number): string[] {
  const out = [''];
  let layer = [''];
  for (let n = 1; n <= max; n++) {
    layer = layer.flatMap((s) => alphabet.map((c) => s + c));
    out.push(...layer);
  }
  return out;
}

test('keySpacesMeet agrees with brute force over every literal up to 3 characters of a, | and :', (t) => {
  // `a` stands for the app id characters; a witness of a meeting is at most 3 + 3 characters long.
  const alphabet = ['a', '|', ':'];
  const words = strings(alphabet, 7);
  const spaces: KeySpace[] = strings(alphabet, 3).flatMap((literal) => (['nothing', 'anything', 'app-key'] as const).map((rest) => ({ literal, rest })));
  // Each space's members among the words, one bit per word.
  const members = spaces.map((space) => {
    const bits = new Uint32Array(Math.ceil(words.length / 32));
    words.forEach((w, i) => {
      if (inKeySpace(space, w)) bits[i >> 5]! |= 1 << (i & 31);
    });
    return bits;
  });
  let checked = 0;
  for (const [i, a] of spaces.entries()) {
    for (const [j, b] of spaces.entries()) {
      const ma = members[i]!;
      const mb = members[j]!;
      const witness = ma.some((word, k) => (word & mb[k]!) !== 0);
      if (keySpacesMeet(a, b) !== witness) t.fail(`${JSON.stringify(a)} vs ${JSON.stringify(b)}: brute force says ${witness}`);
      checked += 1;
    }
  }
  t.is(checked, spaces.length ** 2);
});

// --- The layouts -------------------------------------------------------------------------------------

const URL = 'redis://127.0.0.1:6379';

function redis(name: string, type: string, metadata: Record<string, unknown> = {}, shared = false): ComponentConfig {
  return { name, type, shared, metadata: { url: URL, ...metadata } };
}

test('the isolated layout: a fixed prefix per type, the component name, and app or shared keys apart', (t) => {
  const prefix = (c: ComponentConfig): string => redisKeyPlan(c).prefix;
  t.is(prefix(redis('kv', 'state.redis')), 'hearth:state:kv:app:');
  t.is(prefix(redis('kv', 'state.redis', {}, true)), 'hearth:state:kv:shared:');
  t.is(prefix(redis('locks', 'lock.redis')), 'hearth:lock:locks:app:');
  t.is(prefix(redis('ids', 'sequencer.redis', {}, true)), 'hearth:seq:ids:shared:');
  t.is(prefix(redis('settings', 'configuration.redis')), 'hearth:config:settings');
  t.is(prefix(redis('mesh', 'registry.redis')), 'hearth:registry:{mesh}:');
  t.is(prefix(redis('kv', 'state.redis', { keyPrefix: 'tenant-a:' })), 'tenant-a:hearth:state:kv:app:');
  // The legacy layout: the keys of earlier builds.
  const legacy = { keyLayout: 'legacy' };
  t.is(prefix(redis('kv', 'state.redis', legacy)), '');
  t.is(prefix(redis('locks', 'lock.redis', legacy)), 'lock||');
  t.is(prefix(redis('ids', 'sequencer.redis', { ...legacy, keyPrefix: 'p:' })), 'p:seq||');
  t.is(prefix(redis('settings', 'configuration.redis', legacy)), 'hearth:configuration');
  t.is(prefix(redis('settings', 'configuration.redis', { ...legacy, hash: 'items' })), 'items');
  t.is(prefix(redis('mesh', 'registry.redis', legacy)), '{hearth:registry}:');
});

/** The keys a component writes, for the app ids and keys given, as its code builds them. */
function keysOf(c: ComponentConfig, appIds: readonly string[], appKeys: readonly string[]): string[] {
  const p = redisKeyPlan(c).prefix;
  if (c.type === 'configuration.redis') return [p];
  if (c.type === 'registry.redis') return ['agents', ...appIds.flatMap((id) => [`agent:${id}`, `app:${id}`])].map((k) => p + k);
  return c.shared ? appKeys.map((k) => p + k) : appIds.flatMap((id) => appKeys.map((k) => `${p}${id}||${k}`));
}

/** keyPrefixes built to land one component's keys inside another's, and some harmless ones. */
const PREFIXES = ['', 'a', 'a:', 'hearth:', 'hearth:state:', 'hearth:state:kv:shared:', 'hearth:state:kv:app:', 'hearth:state:kv:app:lock||', 'hearth:config:', 'lock||', 'seq||', 'x||', '{t}:', 'hearth:registry:{mesh}:'];
const NAMES = ['kv', 'mesh'];
const TYPES = ['state.redis', 'lock.redis', 'sequencer.redis', 'configuration.redis', 'registry.redis'];
/** App ids are DNS labels; app keys anything without `||` or control characters. */
const APP_IDS = ['lock', 'seq', 'hearth', 'kv', 'a', 'x-1'];

test('whatever the keyPrefixes, names, types and sharing, components the check accepts never write the same key; with no keyPrefix nothing is refused', (t) => {
  const all: ComponentConfig[] = [];
  for (const keyPrefix of PREFIXES) {
    for (const name of NAMES) {
      for (const type of TYPES) {
        for (const shared of type.startsWith('state') || type.startsWith('lock') || type.startsWith('seq') ? [false, true] : [false]) {
          for (const keyLayout of ['isolated', 'legacy']) all.push(redis(name, type, { keyPrefix, keyLayout }, shared));
        }
      }
    }
  }
  let accepted = 0;
  let refused = 0;
  for (const [i, a] of all.entries()) {
    for (const b of all.slice(i + 1)) {
      if (a.name === b.name && a.type === b.type) continue; // a duplicate, refused elsewhere
      const problems: string[] = [];
      checkRedisKeySpaces([a, b], problems);
      const bothLegacy = a.metadata.keyLayout === 'legacy' && b.metadata.keyLayout === 'legacy';
      if (problems.length > 0) {
        refused += 1;
        if (a.metadata.keyPrefix === '' && b.metadata.keyPrefix === '' && a.metadata.keyLayout === 'isolated' && b.metadata.keyLayout === 'isolated') {
          t.fail(`refused without keyPrefix: ${JSON.stringify([a, b])}`);
        }
        continue;
      }
      accepted += 1;
      if (bothLegacy) continue; // allowed to meet, as they always did
      // The attacker's best keys: the other component's prefix seen from this one's, and plain ones.
      const reach = (from: ComponentConfig, to: ComponentConfig): string[] => {
        const p = redisKeyPlan(from).prefix;
        const q = redisKeyPlan(to).prefix;
        const tail = q.startsWith(p) ? q.slice(p.length) : '';
        return ['r', '|', 'a|', ':', '{t}', tail, `${tail}agents`, `${tail}x`].filter((k) => k !== '' && !k.includes('||'));
      };
      const ka = keysOf(a, APP_IDS, reach(a, b));
      const kb = new Set(keysOf(b, APP_IDS, reach(b, a)));
      for (const k of ka) if (kb.has(k)) t.fail(`accepted, yet both write ${JSON.stringify(k)}: ${JSON.stringify([a, b])}`);
      for (const k of ka) if (!inKeySpace(redisKeyPlan(a).space, k)) t.fail(`${JSON.stringify(k)} lies outside the space of ${JSON.stringify(a)}`);
    }
  }
  t.true(accepted > 0 && refused > 0, `${accepted} accepted, ${refused} refused`);
});

// --- The refusal, as the loader reports it ----------------------------------------------------------

async function problemsOf(components: readonly ComponentConfig[]): Promise<readonly string[]> {
  const text = toYaml({ version: 1, apps: [{ id: 'demo', token: 'demo-token' }], components });
  const err = await parseConfig(text, '/etc/hearth/test.yaml').then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) return [];
  if (!(err instanceof ConfigError)) throw new Error('expected a ConfigError', { cause: err });
  return err.problems;
}

test('a keyPrefix that puts a component\'s keys inside another\'s is HEARTH_ERR_CONFIG_INVALID naming both components', async (t) => {
  const text = toYaml({
    version: 1,
    apps: [{ id: 'demo', token: 'demo-token' }],
    components: [redis('open', 'state.redis', {}, true), redis('settings', 'configuration.redis', { keyPrefix: 'hearth:state:open:shared:' })],
  });
  const err = await t.throwsAsync(parseConfig(text, '/etc/hearth/test.yaml'), { instanceOf: ConfigError });
  t.is((err as ConfigError | undefined)?.code, 'HEARTH_ERR_CONFIG_INVALID');
  t.deepEqual((err as ConfigError | undefined)?.problems, [
    'components[1]: the Redis keys of configuration.redis "settings" can meet those of state.redis "open" (components[0]) on a database they may share: ' +
      'a key starting "hearth:state:open:shared:hearth:config:settings" can belong to both; give one of them another keyPrefix or db',
  ]);
});

test('refused: a legacy shared state store beside an isolated component on the same database, which it could read and overwrite', async (t) => {
  const found = await problemsOf([redis('open', 'state.redis', { keyLayout: 'legacy' }, true), redis('mesh', 'registry.redis')]);
  t.is(found.length, 1);
  t.regex(found[0] ?? '', /^components\[1\]: the Redis keys of registry\.redis "mesh" can meet those of state\.redis "open" \(keyLayout: legacy\) \(components\[0\]\)/);
});

test('accepted: the shipped Redis example; legacy components together (they always shared); a legacy app-scoped state store beside isolated ones', async (t) => {
  const example = await loadConfig(path.join(repoRoot, 'examples/hearth.redis-kafka.yaml'), { env: {} });
  t.is(example.components.filter((c) => c.type.endsWith('.redis')).length, 4);
  const legacy = { keyLayout: 'legacy' };
  t.deepEqual(
    await problemsOf([
      redis('redis', 'state.redis', legacy, true),
      redis('redis', 'lock.redis', legacy),
      redis('redis', 'sequencer.redis', legacy, true),
      redis('redis', 'configuration.redis', { ...legacy, hash: 'hearth:configuration' }),
      redis('redis', 'registry.redis', legacy),
    ]),
    [],
  );
  // App-scoped legacy keys are `<appId>||…`: no app id reaches `hearth:…` (DNS labels have no `:`).
  t.deepEqual(await problemsOf([redis('old', 'state.redis', legacy), redis('new', 'state.redis'), redis('redis', 'registry.redis'), redis('redis', 'configuration.redis')]), []);
});

test('the database decides: another db or server keeps keys apart; localhost and 127.0.0.1, a URL\'s /db and metadata.db are the same database', async (t) => {
  const open = (metadata: Record<string, unknown>): ComponentConfig => redis('open', 'state.redis', { keyLayout: 'legacy', ...metadata }, true);
  const kv = (metadata: Record<string, unknown>): ComponentConfig => redis('kv', 'state.redis', metadata);
  t.deepEqual(await problemsOf([open({ db: 1 }), kv({})]), []);
  t.deepEqual(await problemsOf([open({ url: 'redis://other.internal:6379' }), kv({})]), []);
  t.deepEqual(await problemsOf([open({ url: 'redis://127.0.0.1:6380' }), kv({})]), []);
  t.is((await problemsOf([open({ url: 'redis://localhost:6379' }), kv({})])).length, 1);
  t.is((await problemsOf([open({ url: 'redis://127.0.0.1:6379/2' }), kv({ db: '2' })])).length, 1);
  t.is((await problemsOf([open({ url: 'redis://127.0.0.1/0' }), kv({})])).length, 1, 'the default port');
  // Cluster seed lists that share a node are one cluster.
  const cluster = { mode: 'cluster', url: undefined };
  t.is((await problemsOf([open({ ...cluster, nodes: 'a:7000,b:7000' }), kv({ ...cluster, nodes: ['b:7000'] })])).length, 1);
  t.deepEqual(await problemsOf([open({ ...cluster, nodes: 'a:7000' }), kv({ ...cluster, nodes: 'c:7000' })]), []);
});

test('keyLayout, keyPrefix and hash are checked with their path', async (t) => {
  const found = await problemsOf([
    redis('a', 'state.redis', { keyLayout: 'flat' }),
    redis('b', 'lock.redis', { keyPrefix: 7 }),
    redis('c', 'configuration.redis', { hash: 'hearth:configuration' }),
    redis('d', 'configuration.redis', { keyLayout: 'legacy', hash: '' }),
  ]);
  t.deepEqual(found, [
    'components[0].metadata.keyLayout: must be isolated or legacy',
    'components[1].metadata.keyPrefix: must be a string',
    'components[2].metadata.hash: applies only with keyLayout: legacy (the isolated layout keeps the items in the hash "hearth:config:c")',
    'components[3].metadata.hash: must be a non-empty string',
  ]);
});
