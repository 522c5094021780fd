// configuration.file against real files edited the ways operators and editors edit them.
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { ConfigurationItems, ConfigurationStore } from '../../agent/components/configuration-store.js';

import { TempDirs, componentConfig, context, embeddedRegistry, startComponent } from './component-helpers.js';
import { sleep, waitFor } from '../support/wait.js';

const temp = new TempDirs();
test.after.always(() => temp.removeAll());

const QUIET_MS = 600;

async function open(file: string, dir: string): Promise<ConfigurationStore> {
  return startComponent<ConfigurationStore>('configuration.file', dir, {
    configDir: dir,
    metadata: { path: path.basename(file), pollIntervalMs: 100 },
  });
}

/** Collects change notifications. */
function recorder(store: ConfigurationStore, keys: string[] = []): { changes: ConfigurationItems[]; stop: () => void } {
  const changes: ConfigurationItems[] = [];
  const stop = store.subscribe(keys, (items) => changes.push(items));
  return { changes, stop };
}

const INITIAL = `
greeting: hello
port: 8080
feature:
  value: "on"
  version: v7
  metadata:
    owner: team-a
gone: soon
`;

test('get returns items in both forms, with versions and metadata', async (t) => {
  const dir = await temp.make();
  const file = path.join(dir, 'app-config.yaml');
  await writeFile(file, INITIAL);
  const store = await open(file, dir);
  try {
    const all = await store.get([]);
    t.deepEqual(Object.keys(all).sort(), ['feature', 'gone', 'greeting', 'port']);
    t.is(all.greeting?.value, 'hello');
    t.is(all.port?.value, '8080');
    t.deepEqual(all.greeting?.metadata, {});
    t.is(typeof all.greeting?.version, 'string');
    t.true((all.greeting?.version.length ?? 0) > 0);
    t.like(all.feature, { value: 'on', version: 'v7', metadata: { owner: 'team-a' } });
    const some = await store.get(['greeting', 'missing']);
    t.deepEqual(Object.keys(some), ['greeting']);
    t.true(store.health().healthy);
    t.is(store.health().detail, undefined);
  } finally {
    await store.close();
  }
});

test('the default version is a hash of the value: same value, same version', async (t) => {
  const dir = await temp.make();
  const file = path.join(dir, 'c.yaml');
  await writeFile(file, 'a: same\nb: same\nc: other\n');
  const store = await open(file, dir);
  try {
    const items = await store.get([]);
    t.is(items.a?.version, items.b?.version);
    t.not(items.a?.version, items.c?.version);
  } finally {
    await store.close();
  }
});

test('subscribers get changed, added and deleted keys when the file is edited in place', async (t) => {
  const dir = await temp.make();
  const file = path.join(dir, 'c.yaml');
  await writeFile(file, INITIAL);
  const store = await open(file, dir);
  try {
    const all = recorder(store);
    const onlyPort = recorder(store, ['port']);
    await writeFile(file, INITIAL.replace('hello', 'bonjour').replace('gone: soon\n', 'added: new\n'));
    await waitFor('a change notification', () => all.changes.length >= 1, { timeoutMs: 20_000, everyMs: 10 });
    await sleep(QUIET_MS);
    t.is(all.changes.length, 1);
    const change = all.changes[0] ?? {};
    t.deepEqual(Object.keys(change).sort(), ['added', 'gone', 'greeting']);
    t.is(change.greeting?.value, 'bonjour');
    t.falsy(change.greeting?.deleted);
    t.is(change.added?.value, 'new');
    t.true(change.gone?.deleted);
    t.is(onlyPort.changes.length, 0);
    t.is((await store.get(['gone'])).gone, undefined);
    t.is((await store.get(['greeting'])).greeting?.value, 'bonjour');
  } finally {
    await store.close();
  }
});

test('an editor-style replace (write a temp file, rename over) is picked up', async (t) => {
  const dir = await temp.make();
  const file = path.join(dir, 'c.yaml');
  await writeFile(file, 'a: one\n');
  const store = await open(file, dir);
  try {
    const rec = recorder(store);
    await writeFile(path.join(dir, '.c.yaml.swp'), 'a: two\n');
    await rename(path.join(dir, '.c.yaml.swp'), file);
    await waitFor('a change notification', () => rec.changes.length >= 1, { timeoutMs: 20_000, everyMs: 10 });
    t.is(rec.changes[0]?.a?.value, 'two');
    // And again: the watcher must survive the inode change.
    await writeFile(path.join(dir, '.c.yaml.swp'), 'a: three\n');
    await rename(path.join(dir, '.c.yaml.swp'), file);
    await waitFor('a second change notification', () => rec.changes.length >= 2, { timeoutMs: 20_000, everyMs: 10 });
    t.is(rec.changes[1]?.a?.value, 'three');
  } finally {
    await store.close();
  }
});

test('a broken edit keeps the last good items and recovers on the next good write', async (t) => {
  const dir = await temp.make();
  const file = path.join(dir, 'c.yaml');
  await writeFile(file, 'a: one\nb: two\n');
  const store = await open(file, dir);
  try {
    const rec = recorder(store);
    await writeFile(file, 'a: [unclosed\nb: two\n');
    await waitFor('the parse error to be reported', () => store.health().detail !== undefined, { timeoutMs: 20_000, everyMs: 10 });
    t.true(store.health().healthy);
    // Half-written: empty, then a non-mapping.
    await writeFile(file, '');
    await sleep(QUIET_MS);
    await writeFile(file, '- a list\n');
    await sleep(QUIET_MS);
    t.is(rec.changes.length, 0);
    t.deepEqual(
      Object.fromEntries(Object.entries(await store.get([])).map(([k, v]) => [k, v.value])),
      { a: 'one', b: 'two' },
    );
    await writeFile(file, 'a: uno\nb: two\n');
    await waitFor('the recovery notification', () => rec.changes.length >= 1, { timeoutMs: 20_000, everyMs: 10 });
    t.deepEqual(Object.keys(rec.changes[0] ?? {}), ['a']);
    t.is(rec.changes[0]?.a?.value, 'uno');
    t.is(store.health().detail, undefined);
  } finally {
    await store.close();
  }
});

test('JSON files work too; unsubscribe stops notifications', async (t) => {
  const dir = await temp.make();
  const file = path.join(dir, 'c.json');
  await writeFile(file, JSON.stringify({ a: 'one', b: { value: 'two', metadata: { m: 'x' } } }));
  const store = await open(file, dir);
  try {
    t.like(await store.get(['b']), { b: { value: 'two', metadata: { m: 'x' } } });
    const rec = recorder(store);
    const stopped = recorder(store);
    stopped.stop();
    await writeFile(file, JSON.stringify({ a: 'uno', b: { value: 'two', metadata: { m: 'x' } } }));
    await waitFor('a change notification', () => rec.changes.length >= 1, { timeoutMs: 20_000, everyMs: 10 });
    await sleep(QUIET_MS);
    t.is(stopped.changes.length, 0);
  } finally {
    await store.close();
  }
});

test('start fails with CONFIG_INVALID for a broken, non-mapping or missing file, and without metadata.path', async (t) => {
  const dir = await temp.make();
  const cases: [string, string | undefined][] = [
    ['broken.yaml', 'a: [unclosed\n'],
    ['empty.yaml', ''],
    ['list.yaml', '- a\n- b\n'],
    ['bad-item.yaml', 'a:\n  value: x\n  extra: y\n'],
    ['bad.json', '{"a": '],
    ['missing.yaml', undefined],
  ];
  for (const [name, content] of cases) {
    const file = path.join(dir, name);
    if (content !== undefined) await writeFile(file, content);
    await t.throwsAsync(open(file, dir), { code: 'HEARTH_ERR_CONFIG_INVALID' }, name);
  }
  await t.throwsAsync(embeddedRegistry().create(context(componentConfig('cfg', 'configuration.file'), dir)), {
    code: 'HEARTH_ERR_CONFIG_INVALID',
  });
});

test('start, close and destroy are idempotent; get after close is BACKEND_UNAVAILABLE', async (t) => {
  const dir = await temp.make();
  const file = path.join(dir, 'c.yaml');
  await writeFile(file, 'a: one\n');
  const store = await open(file, dir);
  await store.start();
  t.true(store.health().healthy);
  await store.close();
  await store.close();
  store.destroy();
  t.false(store.health().healthy);
  await t.throwsAsync(store.get([]), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
});
