// configuration.redis against a real redis-server: operators edit the hash with redis-cli (a client
// no one here wrote) and subscribers see exactly what changed, through notifications, reconnects
// and polling. Serial: one test kills and restarts the shared server.
import test from 'ava';
import { pino } from 'pino';
import type { ConfigurationItems } from '../../agent/components/configuration-store.js';
import { RedisConfigurationStore, parseField, withNotificationFlags } from '../../agent/components/redis/redis-configuration-store.js';
import { RedisServer } from '../support/redis-server.js';

import { TempDirs, componentConfig, context } from './component-helpers.js';
import { sleep, waitFor } from '../support/wait.js';

const temp = new TempDirs();
let server: RedisServer | undefined;
const opened: RedisConfigurationStore[] = [];

test.before(async () => {
  server = await RedisServer.start();
});

test.after.always(async () => {
  for (const s of opened) s.destroy();
  await server?.close();
  await temp.removeAll();
});

function redis(): RedisServer {
  if (!server) throw new Error('redis-server did not start');
  return server;
}

/** Where a configuration.redis component keeps its items: the hash `hearth:config:<name>`. */
const HASH_PREFIX = 'hearth:config:';

let hashes = 0;
/** The hash of a component of its own per test, so tests never see each other's items. */
function freshHash(): string {
  hashes += 1;
  return `${HASH_PREFIX}cfg-test${hashes}`;
}

/** The component whose hash that is. */
function nameOf(hash: string): string {
  return hash.slice(HASH_PREFIX.length);
}

async function open(hash: string, metadata: Record<string, unknown> = {}): Promise<RedisConfigurationStore> {
  const dir = await temp.make();
  const store = new RedisConfigurationStore(
    context(componentConfig(nameOf(hash), 'configuration.redis', { url: redis().url, pollIntervalMs: 60_000, ...metadata }), dir),
  );
  opened.push(store);
  await store.start();
  return store;
}

/** Collects change notifications; `latest` folds them into each key's last event. */
function recorder(store: RedisConfigurationStore, keys: string[] = []): { changes: ConfigurationItems[]; latest: () => ConfigurationItems; stop: () => void } {
  const changes: ConfigurationItems[] = [];
  const stop = store.subscribe(keys, (items) => changes.push(items));
  return { changes, latest: () => Object.assign({}, ...changes) as ConfigurationItems, stop };
}

const QUIET_MS = 500;

test.serial('get returns plain and JSON-shaped fields, every field for no keys, and leaves missing keys out', async (t) => {
  const hash = freshHash();
  redit('HSET', hash, 'greeting', 'hello', 'feature', '{"value":"on","version":"v7","metadata":{"owner":"team-a"}}', 'port', '{"value":8080}');
  const store = await open(hash);
  try {
    const all = await store.get([]);
    t.deepEqual(Object.keys(all).sort(), ['feature', 'greeting', 'port']);
    t.like(all.greeting, { value: 'hello', metadata: {} });
    t.like(all.feature, { value: 'on', version: 'v7', metadata: { owner: 'team-a' } });
    t.is(all.port?.value, '8080');
    const some = await store.get(['greeting', 'missing']);
    t.deepEqual(Object.keys(some), ['greeting']);
    t.deepEqual(some.greeting, all.greeting);
    t.deepEqual(await store.get(['missing']), {});
    t.true(store.health().healthy);
  } finally {
    await store.close();
  }
});

test.serial('a plain value is versioned by its hash; JSON that is not the item shape is a plain value', async (t) => {
  const hash = freshHash();
  redit('HSET', hash, 'a', 'same', 'b', 'same', 'c', 'other', 'list', '[1,2]', 'extra', '{"value":"x","colour":"red"}', 'broken', '{"value":');
  const store = await open(hash);
  try {
    const items = await store.get([]);
    t.is(items.a?.version, items.b?.version);
    t.not(items.a?.version, items.c?.version);
    t.is(items.list?.value, '[1,2]');
    t.is(items.extra?.value, '{"value":"x","colour":"red"}');
    t.is(items.broken?.value, '{"value":');
    t.is(parseField('{"value":"x"}').version, parseField('x').version);
  } finally {
    await store.close();
  }
});

test.serial('redis-cli HSET and HDEL reach a subscriber as changed, added and deleted items', async (t) => {
  const hash = freshHash();
  redit('HSET', hash, 'greeting', 'hello', 'gone', 'soon', 'port', '8080');
  const store = await open(hash);
  try {
    const before = await store.get(['gone']);
    const rec = recorder(store);
    redit('HSET', hash, 'greeting', 'bonjour', 'added', '{"value":"new","version":"v1"}');
    redit('HDEL', hash, 'gone');
    await waitFor('the three changes', () => Object.keys(rec.latest()).length >= 3, { timeoutMs: 20_000, everyMs: 10 });
    await sleep(QUIET_MS);
    const got = rec.latest();
    t.deepEqual(Object.keys(got).sort(), ['added', 'gone', 'greeting']);
    t.like(got.greeting, { value: 'bonjour' });
    t.falsy(got.greeting?.deleted);
    t.like(got.added, { value: 'new', version: 'v1' });
    // As every configuration store reports a removal: the last value and version, marked deleted.
    t.like(got.gone, { value: before.gone?.value, version: before.gone?.version, deleted: true });
    for (const change of rec.changes) t.true(Object.keys(change).length > 0);
    // The whole hash going away (DEL) is every item deleted.
    const n = rec.changes.length;
    redit('DEL', hash);
    await waitFor('the deletions', () => rec.changes.length > n, { timeoutMs: 20_000, everyMs: 10 });
    await sleep(QUIET_MS);
    const deleted = Object.assign({}, ...rec.changes.slice(n)) as ConfigurationItems;
    t.deepEqual(Object.keys(deleted).sort(), ['added', 'greeting', 'port']);
    t.true(Object.values(deleted).every((i) => i.deleted === true));
  } finally {
    await store.close();
  }
});

test.serial('only the subscribed keys are delivered; unsubscribe stops deliveries', async (t) => {
  const hash = freshHash();
  redit('HSET', hash, 'a', '1', 'b', '1');
  const store = await open(hash);
  try {
    const onlyA = recorder(store, ['a']);
    const onlyB = recorder(store, ['b']);
    const stopped = recorder(store);
    stopped.stop();
    redit('HSET', hash, 'a', '2');
    await waitFor('the change of a', () => onlyA.changes.length >= 1, { timeoutMs: 20_000, everyMs: 10 });
    await sleep(QUIET_MS);
    t.deepEqual(Object.keys(onlyA.changes[0] ?? {}), ['a']);
    t.is(onlyA.changes[0]?.a?.value, '2');
    t.is(onlyB.changes.length, 0);
    t.is(stopped.changes.length, 0);
    // Writing the same value again is no change at all.
    redit('HSET', hash, 'a', '2');
    await sleep(QUIET_MS);
    t.is(onlyA.changes.length, 1);
  } finally {
    await store.close();
  }
});

test.serial('start adds the notification classes it needs and keeps the ones already set', async (t) => {
  redit('CONFIG', 'SET', 'notify-keyspace-events', 'Ez');
  const store = await open(freshHash());
  try {
    const flags = notifyFlags();
    for (const f of ['E', 'z', 'K', 'h', 'g', 'x', 'e']) t.true(flags.includes(f), `${f} in "${flags}"`);
    t.is(withNotificationFlags('AK'), 'AK');
    t.is(withNotificationFlags(''), 'Khgxe');
  } finally {
    await store.close();
  }
});

test.serial('a subscriber gets the changes made while Redis was killed and restarted empty', async (t) => {
  const hash = freshHash();
  redit('HSET', hash, 'kept', 'before', 'lost', 'x');
  // No polling to speak of: the catch-up must come from the reconnect and the notifications.
  const store = await open(hash, { pollIntervalMs: 600_000 });
  try {
    const rec = recorder(store);
    await redis().stop();
    await waitFor('the store to report Redis down', () => !store.health().healthy, { timeoutMs: 20_000, everyMs: 10 });
    await t.throwsAsync(store.get([]), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
    await redis().restart();
    redit('HSET', hash, 'kept', 'after');
    await waitFor('the changes made across the restart', () => rec.latest().kept?.value === 'after' && rec.latest().lost?.deleted === true, { timeoutMs: 30_000, everyMs: 10 });
    t.true(store.health().healthy);
    // The restarted server forgot CONFIG SET: the store enabled the notifications again.
    await waitFor('keyspace notifications re-enabled', () => notifyFlags().includes('K'), { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
    const n = rec.changes.length;
    redit('HSET', hash, 'fresh', 'yes');
    await waitFor('a change after the restart', () => rec.changes.length > n, { timeoutMs: 20_000, everyMs: 10 });
    t.deepEqual(rec.changes.slice(n).flatMap((c) => Object.keys(c)), ['fresh']);
  } finally {
    await store.close();
  }
});

test.serial('with notifications off on the server and enableKeyspaceNotifications false, changes arrive by polling', async (t) => {
  redit('CONFIG', 'SET', 'notify-keyspace-events', '');
  const hash = freshHash();
  redit('HSET', hash, 'a', '1');
  const store = await open(hash, { enableKeyspaceNotifications: false, pollIntervalMs: 200 });
  try {
    const rec = recorder(store);
    redit('HSET', hash, 'a', '2');
    redit('HSET', hash, 'b', '1');
    await waitFor('the polled changes', () => rec.latest().a?.value === '2' && rec.latest().b?.value === '1', { timeoutMs: 20_000, everyMs: 10 });
    redit('HDEL', hash, 'b');
    await waitFor('the polled deletion', () => rec.latest().b?.deleted === true, { timeoutMs: 20_000, everyMs: 10 });
    t.is(notifyFlags(), '', 'the server setting was left alone');
  } finally {
    await store.close();
  }
});

test.serial('where CONFIG is refused (an ACL user without it), start works, warns once and changes arrive by polling', async (t) => {
  redit('CONFIG', 'SET', 'notify-keyspace-events', '');
  redit('ACL', 'SETUSER', 'noconfig', 'on', '>secret', '~*', '&*', '+@all', '-config');
  const hash = freshHash();
  redit('HSET', hash, 'a', '1');
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  const dir = await temp.make();
  const url = `redis://noconfig:secret@127.0.0.1:${redis().port}`;
  const store = new RedisConfigurationStore(context(componentConfig(nameOf(hash), 'configuration.redis', { url, pollIntervalMs: 200 }), dir, dir, logger));
  opened.push(store);
  await store.start();
  try {
    t.true(store.health().healthy);
    const rec = recorder(store);
    redit('HSET', hash, 'a', '2');
    await waitFor('the polled change', () => rec.latest().a?.value === '2', { timeoutMs: 20_000, everyMs: 10 });
    t.is(lines.filter((l) => l.includes('CONFIG SET refused')).length, 1);
    t.is(notifyFlags(), '');
  } finally {
    await store.close();
  }
});

test.serial('start, close and destroy are idempotent; get after close is BACKEND_UNAVAILABLE and nothing is delivered', async (t) => {
  const hash = freshHash();
  const store = await open(hash, { pollIntervalMs: 100 });
  const rec = recorder(store);
  await store.start();
  await store.close();
  await store.close();
  store.destroy();
  t.false(store.health().healthy);
  await t.throwsAsync(store.get([]), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  redit('HSET', hash, 'a', '1');
  await sleep(QUIET_MS);
  t.is(rec.changes.length, 0);
});

test.serial('invalid metadata is CONFIG_INVALID naming the key; metadata.hash only in the legacy layout', async (t) => {
  const dir = await temp.make();
  const bad: Record<string, unknown>[] = [
    { pollIntervalMs: 0 },
    { pollIntervalMs: 'often' },
    { enableKeyspaceNotifications: 'maybe' },
    { hash: '' },
    { hash: 'my:items' },
    { keyLayout: 'sideways' },
    { keyLayout: 'legacy', hash: 7 },
  ];
  for (const metadata of bad) {
    const err = t.throws(() => new RedisConfigurationStore(context(componentConfig('redis', 'configuration.redis', { url: redis().url, ...metadata }), dir)), {
      code: 'HEARTH_ERR_CONFIG_INVALID',
    });
    const key = Object.keys(metadata).at(-1) ?? '';
    t.true(err?.message.includes(`metadata.${key}`), err?.message);
  }
});

/** redis-cli as an operator would use it. */
function redit(...args: string[]): void {
  redis().cli(...args);
}

function notifyFlags(): string {
  return redis().cliRaw('CONFIG', 'GET', 'notify-keyspace-events').split('\n')[1] ?? '';
}
