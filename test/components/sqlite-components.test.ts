// The conformance suites against the SQLite components, plus what is specific to SQLite: ETag
// format, 64-bit sequences, persistence, shared connections, sweeping and garbage collection.
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import type { LockStore } from '../../agent/components/lock-store.js';
import type { PubSubBroker } from '../../agent/components/pubsub-broker.js';
import type { SequencerStore } from '../../agent/components/sequencer-store.js';
import type { SetOperation, StateStore } from '../../agent/components/state-store.js';
import type { Component } from '../../agent/components/component.js';
import { lockConformance } from '../conformance/lock-conformance.js';
import { pubsubConformance } from '../conformance/pubsub-conformance.js';
import { sequencerConformance } from '../conformance/sequencer-conformance.js';
import { stateConformance } from '../conformance/state-conformance.js';

import { TempDirs, startComponent } from './component-helpers.js';
import { sleep, waitFor } from '../support/wait.js';
import { subscribeOptions } from './component-helpers.js';

const temp = new TempDirs();
test.after.always(() => temp.removeAll());

function factory<T extends Component>(type: string, metadata: Record<string, unknown> = {}) {
  return async () => {
    const store = await startComponent<T>(type, await temp.make(), { metadata });
    return { store, cleanup: () => store.close() };
  };
}

stateConformance(test, 'sqlite', factory<StateStore>('state.sqlite'));
lockConformance(test, 'sqlite', factory<LockStore>('lock.sqlite'));
sequencerConformance(test, 'sqlite', factory<SequencerStore>('sequencer.sqlite'));
pubsubConformance(test, 'sqlite', factory<PubSubBroker>('pubsub.sqlite'));

const set = (key: string, value: string, extra: Partial<SetOperation> = {}): SetOperation => ({
  key,
  value: Buffer.from(value),
  etag: undefined,
  concurrency: 'last-write',
  ttlSeconds: undefined,
  contentType: undefined,
  ...extra,
});

/** A second, raw connection to inspect or seed the file the components use. */
function raw<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

test('sqlite state: an ETag this store never issues is ETAG_INVALID', async (t) => {
  const store = await startComponent<StateStore>('state.sqlite', await temp.make());
  try {
    await store.set(set('k', 'v'));
    for (const etag of ['abc', '', '-1', '1.5', '0', ' 1', '99999999999999999999']) {
      await t.throwsAsync(store.set(set('k', 'x', { etag })), { code: 'HEARTH_ERR_ETAG_INVALID' }, `etag ${JSON.stringify(etag)}`);
      await t.throwsAsync(store.delete({ key: 'missing', etag, concurrency: 'last-write' }), { code: 'HEARTH_ERR_ETAG_INVALID' });
    }
  } finally {
    await store.close();
  }
});

test('sqlite: operations before start or after close are BACKEND_UNAVAILABLE', async (t) => {
  const dir = await temp.make();
  const store = await startComponent<StateStore>('state.sqlite', dir);
  await store.close();
  await t.throwsAsync(store.get('k'), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  await t.throwsAsync(store.start(), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  t.false(store.health().healthy);
});

test('sqlite: data persists across close and reopen; components with different names are isolated', async (t) => {
  const dir = await temp.make();
  const a = await startComponent<StateStore>('state.sqlite', dir, { name: 'a' });
  const b = await startComponent<StateStore>('state.sqlite', dir, { name: 'b' });
  const seq = await startComponent<SequencerStore>('sequencer.sqlite', dir, { name: 'a' });
  try {
    await a.set(set('k', 'from-a'));
    t.is(await b.get('k'), undefined);
    await seq.next('s');
    await seq.next('s');
  } finally {
    await a.close();
    await b.close();
    await seq.close();
  }
  const again = await startComponent<StateStore>('state.sqlite', dir, { name: 'a' });
  const seq2 = await startComponent<SequencerStore>('sequencer.sqlite', dir, { name: 'a' });
  try {
    t.is((await again.get('k'))?.value.toString(), 'from-a');
    t.is(await seq2.next('s'), 3n);
  } finally {
    await again.close();
    await seq2.close();
  }
});

test('sqlite: components on one file share a connection; closing one leaves the others working', async (t) => {
  const dir = await temp.make();
  const state = await startComponent<StateStore>('state.sqlite', dir);
  const lock = await startComponent<LockStore>('lock.sqlite', dir);
  try {
    await state.set(set('k', 'v'));
    t.true(await lock.tryLock('r', 'me', 60_000));
    await lock.close();
    t.is((await state.get('k'))?.value.toString(), 'v');
    t.true(state.health().healthy);
  } finally {
    await state.close();
    await lock.close();
  }
});

test('sqlite: metadata.path is resolved against stateDir; the directory is created 0700; WAL is on', async (t) => {
  const dir = await temp.make();
  const store = await startComponent<StateStore>('state.sqlite', dir, { metadata: { path: 'nested/data.db' } });
  try {
    await store.set(set('k', 'v'));
    const file = path.join(dir, 'nested', 'data.db');
    t.is((await stat(path.dirname(file))).mode & 0o777, 0o700);
    t.is(raw(file, (db) => db.pragma('journal_mode', { simple: true })), 'wal');
    t.deepEqual(raw(file, (db) => db.prepare('SELECT count(*) AS n FROM state').get()), { n: 1 });
  } finally {
    await store.close();
  }
});

test('sqlite: an unusable metadata.path fails start with BACKEND_UNAVAILABLE; a wrong type is CONFIG_INVALID', async (t) => {
  const dir = await temp.make();
  // A path under a regular file cannot be created (ENOTDIR).
  await writeFile(path.join(dir, 'blocker'), 'not a directory');
  await t.throwsAsync(startComponent('state.sqlite', dir, { metadata: { path: 'blocker/x.db' } }), {
    code: 'HEARTH_ERR_BACKEND_UNAVAILABLE',
  });
  await t.throwsAsync(startComponent('state.sqlite', dir, { metadata: { path: 42 } }), { code: 'HEARTH_ERR_CONFIG_INVALID' });
});

test('sqlite sequencer: values beyond 2^53 stay exact', async (t) => {
  const dir = await temp.make();
  const seq = await startComponent<SequencerStore>('sequencer.sqlite', dir, { name: 'big' });
  try {
    const start = 2n ** 60n + 7n;
    raw(path.join(dir, 'hearth.db'), (db) =>
      db.prepare('INSERT INTO sequences (component, key, value) VALUES (?, ?, ?)').run('big', 'k', start),
    );
    t.is(await seq.next('k'), start + 1n);
    t.is(await seq.next('k'), start + 2n);
    raw(path.join(dir, 'hearth.db'), (db) =>
      db.prepare('UPDATE sequences SET value = ? WHERE key = ?').run(2n ** 63n - 1n, 'k'),
    );
    await t.throwsAsync(seq.next('k'), { code: 'HEARTH_ERR_RESOURCE_EXHAUSTED' });
  } finally {
    await seq.close();
  }
});

test('sqlite state: expired rows are swept from the file', async (t) => {
  const dir = await temp.make();
  const store = await startComponent<StateStore>('state.sqlite', dir, { metadata: { sweepIntervalMs: 50 } });
  try {
    await store.set(set('short', 'v', { ttlSeconds: 0.2 }));
    await store.set(set('long', 'v', { ttlSeconds: 600 }));
    const count = (): number =>
      raw(path.join(dir, 'hearth.db'), (db) => (db.prepare('SELECT count(*) AS n FROM state').get() as { n: number }).n);
    await waitFor('the sweep', () => count() === 1, { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
    t.truthy(await store.get('long'));
  } finally {
    await store.close();
  }
});

test('sqlite pubsub: fully delivered messages are garbage-collected after the retention', async (t) => {
  const dir = await temp.make();
  const broker = await startComponent<PubSubBroker>('pubsub.sqlite', dir, { metadata: { gcIntervalMs: 50, retentionSeconds: 1 } });
  try {
    const opts = subscribeOptions('t', 'g', { maxInFlight: 10 });
    await broker.pull(opts, 1, 0);
    await broker.publish({ topic: 't', data: Buffer.from('x'), contentType: 'text/plain', metadata: {}, key: undefined });
    await broker.publish({ topic: 't', data: Buffer.from('y'), contentType: 'text/plain', metadata: {}, key: undefined });
    const got = await broker.pull(opts, 1, 5000);
    t.is(got.length, 1);
    await broker.ack('g', got[0]?.deliveryId ?? '');
    const count = (): number =>
      raw(path.join(dir, 'hearth.db'), (db) => (db.prepare('SELECT count(*) AS n FROM pubsub_messages').get() as { n: number }).n);
    await waitFor('garbage collection', () => count() === 1, { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
    await sleep(300);
    // The unacked one is kept however old it is.
    t.is(count(), 1);
  } finally {
    await broker.close();
  }
});

test('sqlite pubsub: an expired subscription is emptied in bounded batches, stops receiving at once, and frees its place in the budget', async (t) => {
  const dir = await temp.make();
  const broker = await startComponent<PubSubBroker>('pubsub.sqlite', dir, { metadata: { gcIntervalMs: 50 } });
  const file = path.join(dir, 'hearth.db');
  const count = (group: string): number =>
    raw(file, (db) => (db.prepare('SELECT count(*) AS n FROM pubsub_deliveries WHERE group_name = ?').get(group) as { n: number }).n);
  const groups = (): string[] => raw(file, (db) => (db.prepare('SELECT name FROM pubsub_groups ORDER BY name').all() as { name: string }[]).map((r) => r.name));
  try {
    const short = subscribeOptions('t', 'a||short', { idleMs: 1_500, maxGroups: 2 });
    const kept = subscribeOptions('t', 'a||kept', { maxGroups: 2 });
    await broker.pull(short, 1, 0);
    await broker.pull(kept, 1, 0);
    // The app is at its two groups.
    await t.throwsAsync(broker.pull(subscribeOptions('t', 'a||third', { maxGroups: 2 }), 1, 0), { message: /subscriptions/ });
    // More deliveries than one write deletes (1,000): the expiry takes several.
    for (let i = 0; i < 25; i++) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => broker.publish({ topic: 't', data: Buffer.from(`m${i}.${j}`), contentType: 'text/plain', metadata: {}, key: undefined })));
    }
    t.is(count('a||short'), 2500);
    await waitFor('the idle subscription to be gone with its deliveries', () => (count('a||short') === 0 && !groups().includes('a||short') ? true : undefined), { timeoutMs: 30_000, everyMs: 20, retryErrors: false });
    t.deepEqual(groups(), ['a||kept']);
    t.is(count('a||kept'), 2500, 'the live subscription keeps everything');
    // Its place in the budget is free again; a subscription of the expired one's name starts empty.
    await broker.pull(subscribeOptions('t', 'a||third', { maxGroups: 2 }), 1, 0);
    t.deepEqual(await broker.pull({ ...short, maxGroups: 3 }, 10, 0), []);
  } finally {
    await broker.close();
  }
});

test('sqlite pubsub: a pull takes at most maxBytes of message data, and always one message', async (t) => {
  const broker = await startComponent<PubSubBroker>('pubsub.sqlite', await temp.make());
  try {
    const opts = subscribeOptions('t', 'g');
    await broker.pull(opts, 1, 0);
    for (let i = 0; i < 10; i++) await broker.publish({ topic: 't', data: Buffer.alloc(1000, i), contentType: 'text/plain', metadata: {}, key: undefined });
    t.is((await broker.pull(opts, 10, 0, 2500)).length, 2);
    t.is((await broker.pull(opts, 10, 0, 10)).length, 1, 'one message even when it alone is over');
    t.is((await broker.pull(opts, 10, 0)).length, 7, 'the rest, with no byte limit');
  } finally {
    await broker.close();
  }
});

test('sqlite pubsub: closing the broker releases its subscriptions leases', async (t) => {
  const dir = await temp.make();
  const opts = subscribeOptions('t', 'g', { ackDeadlineMs: 600_000, maxInFlight: 10 });
  const first = await startComponent<PubSubBroker>('pubsub.sqlite', dir);
  const got: string[] = [];
  try {
    await first.subscribe(opts, (d) => got.push(d.messageId));
    const id = await first.publish({ topic: 't', data: Buffer.from('x'), contentType: 'text/plain', metadata: {}, key: undefined });
    await waitFor('condition', () => got.length === 1, { timeoutMs: 20_000, everyMs: 10 });
    t.is(got[0], id);
  } finally {
    await first.close();
  }
  const second = await startComponent<PubSubBroker>('pubsub.sqlite', dir);
  try {
    const again = await second.pull(opts, 10, 10_000);
    t.is(again.length, 1);
    t.is(again[0]?.attempt, 2);
  } finally {
    await second.close();
  }
});
