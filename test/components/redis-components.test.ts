// The conformance suites against state.redis, lock.redis and sequencer.redis on one real
// redis-server, plus what is specific to Redis: the key layout as redis-cli sees it, items written
// by redis-cli, racing connections, outages (server killed, or absent at start) and Cluster mode.
//
// The outage tests are serial: ava runs serial tests before the concurrent ones, so killing the
// shared server cannot disturb the conformance tests (a restarted server is simply empty).
import test, { type ExecutionContext } from 'ava';
import type { Component } from '../../agent/components/component.js';
import type { LockStore } from '../../agent/components/lock-store.js';
import { RedisLockStore } from '../../agent/components/redis/redis-lock-store.js';
import { RedisSequencerStore } from '../../agent/components/redis/redis-sequencer-store.js';
import { RedisServiceRegistry } from '../../agent/components/redis/redis-service-registry.js';
import { RedisStateStore } from '../../agent/components/redis/redis-state-store.js';
import type { SequencerStore } from '../../agent/components/sequencer-store.js';
import type { SetOperation, StateStore } from '../../agent/components/state-store.js';
import type { ComponentContext } from '../../agent/components/component.js';
import { lockConformance } from '../conformance/lock-conformance.js';
import { sequencerConformance } from '../conformance/sequencer-conformance.js';
import { stateConformance } from '../conformance/state-conformance.js';
import { uniq } from '../conformance/conformance-helpers.js';
import { RedisServer } from '../support/redis-server.js';
import { TempDirs, componentConfig, context } from './component-helpers.js';
import { sleep, waitFor } from '../support/wait.js';

const temp = new TempDirs();
const servers: RedisServer[] = [];
let server: RedisServer;
let stateDir: string;

test.before(async () => {
  stateDir = await temp.make();
  server = await RedisServer.start();
  servers.push(server);
});

test.after.always(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await temp.removeAll();
});

type Ctor<T> = new (ctx: ComponentContext) => T;

function ctx(type: string, metadata: Record<string, unknown> = {}): ComponentContext {
  return context(componentConfig('redis', type, { url: server.url, ...metadata }), stateDir);
}

async function started<T extends Component>(C: Ctor<T>, type: string, metadata: Record<string, unknown> = {}): Promise<T> {
  const store = new C(ctx(type, metadata));
  await store.start();
  return store;
}

function factory<T extends Component>(C: Ctor<T>, type: string) {
  return async () => {
    const store = await started(C, type);
    return { store, cleanup: () => store.close() };
  };
}

stateConformance(test, 'redis', factory<StateStore>(RedisStateStore, 'state.redis'));
lockConformance(test, 'redis', factory<LockStore>(RedisLockStore, 'lock.redis'));
sequencerConformance(test, 'redis', factory<SequencerStore>(RedisSequencerStore, 'sequencer.redis'));

const set = (key: string, value: string, extra: Partial<SetOperation> = {}): SetOperation => ({
  key,
  value: Buffer.from(value),
  etag: undefined,
  concurrency: 'last-write',
  ttlSeconds: undefined,
  contentType: undefined,
  ...extra,
});

/** HGETALL through redis-cli, as a field → value map. */
function hgetall(s: RedisServer, key: string): Record<string, string> {
  const lines = s.cliRaw('HGETALL', key).split('\n');
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) out[lines[i] ?? ''] = lines[i + 1] ?? '';
  return out;
}

const cliInt = (s: RedisServer, ...args: string[]): number => Number(s.cliRaw(...args).trim());

/** Where the components of this file (all named `redis`, not shared) keep an app's keys. */
const STATE = 'hearth:state:redis:app:';
const LOCK = 'hearth:lock:redis:app:';
const SEQ = 'hearth:seq:redis:app:';

const DOWN_CODES = ['HEARTH_ERR_BACKEND_UNAVAILABLE', 'HEARTH_ERR_TIMEOUT'];

/** The call rejects with a "backend down" code. */
async function failsDown(t: ExecutionContext, call: Promise<unknown>, what: string): Promise<void> {
  const err = await t.throwsAsync(call, undefined, what);
  const code = (err as { code?: string } | undefined)?.code ?? '';
  t.true(DOWN_CODES.includes(code), `${what}: got ${code} (${err?.message ?? ''})`);
}

async function closeAll(...components: Component[]): Promise<void> {
  await Promise.all(components.map((c) => c.close()));
}

// --- Outages (serial: they kill the shared server) ----------------------------------------------

test.serial('redis: Redis killed mid-traffic: calls fail with a coded error, health says why, the same instances recover after restart', async (t) => {
  // Own timeouts → own client (connections are shared per identical options), as a worker has.
  const meta = { connectTimeoutMs: 500, commandTimeoutMs: 1000 };
  const state = await started(RedisStateStore, 'state.redis', meta);
  const lock = await started(RedisLockStore, 'lock.redis', meta);
  const seq = await started(RedisSequencerStore, 'sequencer.redis', meta);
  try {
    t.true(state.health().healthy);
    let ok = 0;
    let stop = false;
    const errors: unknown[] = [];
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await state.set(set(`demo||traffic-${i % 10}`, `v${i}`));
          await state.get(`demo||traffic-${i % 10}`);
          ok += 1;
        } catch (err) {
          errors.push(err);
          await sleep(5);
        }
      }
    })();
    await waitFor('traffic before the outage', () => ok >= 20, { timeoutMs: 20_000, everyMs: 10 });
    await server.stop();
    await waitFor('calls to fail during the outage', () => errors.length >= 5, { timeoutMs: 20_000, everyMs: 10 });
    await waitFor('health to turn unhealthy', () => !state.health().healthy, { timeoutMs: 20_000, everyMs: 10 });
    stop = true;
    await traffic;
    for (const err of errors) t.true(DOWN_CODES.includes((err as { code?: string }).code ?? ''), String(err));
    t.false(state.health().healthy);
    t.regex(state.health().detail ?? '', /redis/);
    t.false(lock.health().healthy);
    await failsDown(t, state.get('demo||k'), 'get');
    await failsDown(t, state.bulkGet(['demo||a', 'demo||b']), 'bulkGet');
    await failsDown(t, state.set(set('demo||k', 'v')), 'set');
    await failsDown(t, state.delete({ key: 'demo||k', etag: '1', concurrency: 'last-write' }), 'delete');
    await failsDown(t, state.transact([{ type: 'upsert', ...set('demo||k', 'v') }]), 'transact');
    await failsDown(t, lock.tryLock('demo||r', 'me', 10_000), 'tryLock');
    await failsDown(t, seq.next('demo||s'), 'next');

    await server.restart();
    await waitFor('recovery', () => state.health().healthy && lock.health().healthy && seq.health().healthy, { timeoutMs: 30_000, everyMs: 10 });
    const etag = await state.set(set('demo||after', 'back'));
    t.is((await state.get('demo||after'))?.etag, etag);
    t.true(await lock.tryLock('demo||r', 'me', 10_000));
    t.is(await seq.next('demo||s'), 1n);
  } finally {
    await closeAll(state, lock, seq);
  }
});

test.serial('redis: started while Redis is down: start resolves, health is unhealthy, calls fail coded, and it recovers when Redis appears', async (t) => {
  await server.stop();
  const meta = { connectTimeoutMs: 300, commandTimeoutMs: 1500 };
  const state = new RedisStateStore(ctx('state.redis', meta));
  const seq = new RedisSequencerStore(ctx('sequencer.redis', meta));
  try {
    await state.start();
    await seq.start();
    t.false(state.health().healthy);
    t.truthy(state.health().detail);
    await failsDown(t, state.get('demo||k'), 'get');
    await failsDown(t, state.set(set('demo||k', 'v')), 'set');
    await failsDown(t, seq.next('demo||s'), 'next');

    await server.restart();
    await waitFor('recovery', () => state.health().healthy && seq.health().healthy, { timeoutMs: 30_000, everyMs: 10 });
    await state.set(set('demo||k', 'v'));
    t.is((await state.get('demo||k'))?.value.toString(), 'v');
    t.is(await seq.next('demo||s'), 1n);
  } finally {
    if (!server.running) await server.restart();
    await closeAll(state, seq);
  }
});

// --- Lifecycle and configuration ----------------------------------------------------------------

test('redis: operations before start or after close are BACKEND_UNAVAILABLE; start after close too', async (t) => {
  const state = new RedisStateStore(ctx('state.redis'));
  const lock = new RedisLockStore(ctx('lock.redis'));
  const seq = new RedisSequencerStore(ctx('sequencer.redis'));
  const unavailable = { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' };
  await t.throwsAsync(state.get('demo||k'), unavailable);
  await t.throwsAsync(state.set(set('demo||k', 'v')), unavailable);
  await t.throwsAsync(lock.tryLock('demo||r', 'me', 1000), unavailable);
  await t.throwsAsync(seq.next('demo||s'), unavailable);
  t.false(state.health().healthy);
  for (const c of [state, lock, seq]) await c.start();
  t.true(state.health().healthy);
  await closeAll(state, lock, seq);
  await t.throwsAsync(state.get('demo||k'), unavailable);
  await t.throwsAsync(state.transact([{ type: 'delete', key: 'demo||k', etag: undefined, concurrency: 'last-write' }]), unavailable);
  await t.throwsAsync(lock.unlock('demo||r', 'me'), unavailable);
  await t.throwsAsync(seq.next('demo||s'), unavailable);
  await t.throwsAsync(state.start(), unavailable);
  t.false(state.health().healthy);
});

test('redis: bad metadata is CONFIG_INVALID and names the key', (t) => {
  const bad = (type: string, metadata: Record<string, unknown>, key: string, C: Ctor<Component>): void => {
    const err = t.throws(() => new C(context(componentConfig('redis', type, metadata), stateDir)), { code: 'HEARTH_ERR_CONFIG_INVALID' });
    t.true(err?.message.includes(`metadata.${key}`), err?.message);
  };
  bad('state.redis', {}, 'url', RedisStateStore);
  bad('lock.redis', { url: server.url, mode: 'replicated' }, 'mode', RedisLockStore);
  bad('sequencer.redis', { url: server.url, keyPrefix: 42 }, 'keyPrefix', RedisSequencerStore);
  bad('state.redis', { mode: 'cluster' }, 'nodes', RedisStateStore);
  bad('state.redis', { url: server.url, commandTimeoutMs: 'soon' }, 'commandTimeoutMs', RedisStateStore);
});

// --- What redis-cli sees --------------------------------------------------------------------------

test('redis state: redis-cli sees the item as a hash under hearth:state:<name>:app:, at its namespaced key: data, version, contentType, and the TTL', async (t) => {
  const store = await started(RedisStateStore, 'state.redis');
  try {
    const etag = await store.set(set('demo||order-1', '{"qty":2}', { contentType: 'application/json' }));
    t.deepEqual(hgetall(server, `${STATE}demo||order-1`), { data: '{"qty":2}', version: etag, contentType: 'application/json' });
    t.is(cliInt(server, 'PTTL', `${STATE}demo||order-1`), -1);

    await store.set(set('demo||order-1', 'short-lived', { ttlSeconds: 600 }));
    const got = await store.get('demo||order-1');
    const pttl = cliInt(server, 'PTTL', `${STATE}demo||order-1`);
    t.true(pttl > 0 && pttl <= 600_000, `PTTL ${pttl}`);
    t.true(cliInt(server, 'TTL', `${STATE}demo||order-1`) > 0);
    // expiresAt is the key's own expiry instant.
    t.is(server.cliRaw('HGET', `${STATE}demo||order-1`, 'expiresAt').trim(), String(got?.expiresAt));
    t.is(cliInt(server, 'PEXPIRETIME', `${STATE}demo||order-1`), got?.expiresAt ?? 0);
    t.is(cliInt(server, 'HEXISTS', `${STATE}demo||order-1`, 'contentType'), 0);

    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await store.set({ ...set('demo||bytes', ''), value: all });
    t.is(cliInt(server, 'HSTRLEN', `${STATE}demo||bytes`, 'data'), 256);

    t.true(await store.delete({ key: 'demo||order-1', etag: undefined, concurrency: 'last-write' }));
    t.is(cliInt(server, 'EXISTS', `${STATE}demo||order-1`), 0);
  } finally {
    await store.close();
  }
});

test('redis: metadata.keyPrefix is prepended to every key of state, lock and sequencer, before the type\'s own prefix', async (t) => {
  const meta = { keyPrefix: 'tenant-a:' };
  const state = await started(RedisStateStore, 'state.redis', meta);
  const lock = await started(RedisLockStore, 'lock.redis', meta);
  const seq = await started(RedisSequencerStore, 'sequencer.redis', meta);
  try {
    await state.set(set('demo||order-2', 'v'));
    t.true(await lock.tryLock('demo||order-2', 'alice', 60_000));
    await seq.next('demo||order-2');
    t.is(server.cliRaw('HGET', `tenant-a:${STATE}demo||order-2`, 'data').trim(), 'v');
    t.is(server.cliRaw('GET', `tenant-a:${LOCK}demo||order-2`).trim(), 'alice');
    t.is(server.cliRaw('GET', `tenant-a:${SEQ}demo||order-2`).trim(), '1');
    // Nothing else anywhere: the three keys are all the components wrote for it.
    const keys = server.cliRaw('--scan', '--pattern', '*order-2*').trim().split('\n').sort();
    t.deepEqual(keys, [`tenant-a:${LOCK}demo||order-2`, `tenant-a:${SEQ}demo||order-2`, `tenant-a:${STATE}demo||order-2`]);
  } finally {
    await closeAll(state, lock, seq);
  }
});

test('redis state: an item written by redis-cli in the layout is readable and its version guards updates', async (t) => {
  const store = await started(RedisStateStore, 'state.redis');
  try {
    server.cli('HSET', `${STATE}demo||from-cli`, 'data', 'hello', 'version', '42', 'contentType', 'text/plain');
    const got = await store.get('demo||from-cli');
    t.is(got?.value.toString(), 'hello');
    t.is(got?.etag, '42');
    t.is(got?.contentType, 'text/plain');
    t.is(got?.expiresAt, undefined);
    await t.throwsAsync(store.set(set('demo||from-cli', 'x', { etag: '41' })), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
    await t.throwsAsync(store.set(set('demo||from-cli', 'x', { concurrency: 'first-write' })), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
    const next = await store.set(set('demo||from-cli', 'updated', { etag: '42' }));
    t.true(BigInt(next) > 42n);

    // Without a version field the item reads with ETag "0", which guards it like any other.
    server.cli('HSET', `${STATE}demo||bare`, 'data', 'plain');
    t.is((await store.get('demo||bare'))?.etag, '0');
    await store.set(set('demo||bare', 'changed', { etag: '0' }));
    // A hash without a data field is not an item.
    server.cli('HSET', `${STATE}demo||no-data`, 'version', '7');
    t.is(await store.get('demo||no-data'), undefined);
  } finally {
    await store.close();
  }
});

test('redis state: a value of another type at the item\'s name is INTERNAL (a data conflict), not BACKEND_UNAVAILABLE', async (t) => {
  const store = await started(RedisStateStore, 'state.redis');
  try {
    server.cli('SET', `${STATE}demo||plain-string`, 'not a hash');
    await t.throwsAsync(store.get('demo||plain-string'), { code: 'HEARTH_ERR_INTERNAL' });
    await t.throwsAsync(store.set(set('demo||plain-string', 'x')), { code: 'HEARTH_ERR_INTERNAL' });
    t.true(store.health().healthy, 'one bad key does not make the component unhealthy');
  } finally {
    await store.close();
  }
});

test('redis lock: redis-cli sees the lock key under hearth:lock:<name>:app: with its owner and lease; unlock removes it', async (t) => {
  const lock = await started(RedisLockStore, 'lock.redis');
  try {
    t.true(await lock.tryLock('demo||res-1', 'alice', 60_000));
    t.is(server.cliRaw('GET', `${LOCK}demo||res-1`).trim(), 'alice');
    const pttl = cliInt(server, 'PTTL', `${LOCK}demo||res-1`);
    t.true(pttl > 0 && pttl <= 60_000, `PTTL ${pttl}`);
    t.true(await lock.keepAlive('demo||res-1', 'alice', 600_000));
    t.true(cliInt(server, 'PTTL', `${LOCK}demo||res-1`) > 60_000);
    t.is(await lock.unlock('demo||res-1', 'alice'), 'SUCCESS');
    t.is(cliInt(server, 'EXISTS', `${LOCK}demo||res-1`), 0);
  } finally {
    await lock.close();
  }
});

test('redis sequencer: redis-cli sees the counter under hearth:seq:<name>:app:; values beyond 2^53 stay exact; the int64 maximum is RESOURCE_EXHAUSTED', async (t) => {
  const seq = await started(RedisSequencerStore, 'sequencer.redis');
  try {
    const key = `demo||${uniq('seq')}`;
    t.is(await seq.next(key), 1n);
    t.is(await seq.next(key), 2n);
    t.is(server.cliRaw('GET', `${SEQ}${key}`).trim(), '2');
    const start = 2n ** 60n + 7n;
    server.cli('SET', `${SEQ}${key}`, String(start));
    t.is(await seq.next(key), start + 1n);
    t.is(await seq.next(key), start + 2n);
    server.cli('SET', `${SEQ}${key}`, String(2n ** 63n - 1n));
    await t.throwsAsync(seq.next(key), { code: 'HEARTH_ERR_RESOURCE_EXHAUSTED' });
  } finally {
    await seq.close();
  }
});

// --- ETags ------------------------------------------------------------------------------------------

test('redis state: an ETag this store never issues is ETAG_INVALID', async (t) => {
  const store = await started(RedisStateStore, 'state.redis');
  try {
    const key = `demo||${uniq('k')}`;
    await store.set(set(key, 'v'));
    for (const etag of ['abc', '', '-1', '1.5', '01', ' 1', '99999999999999999999']) {
      await t.throwsAsync(store.set(set(key, 'x', { etag })), { code: 'HEARTH_ERR_ETAG_INVALID' }, `etag ${JSON.stringify(etag)}`);
      await t.throwsAsync(store.delete({ key: 'demo||missing', etag, concurrency: 'last-write' }), { code: 'HEARTH_ERR_ETAG_INVALID' });
    }
    const err = await t.throwsAsync(store.transact([{ type: 'upsert', ...set(key, 'x') }, { type: 'upsert', ...set(key, 'y', { etag: 'abc' }) }]), {
      code: 'HEARTH_ERR_TRANSACTION_FAILED',
    });
    t.like((err as { details?: Record<string, unknown> }).details, { index: 1, code: 'HEARTH_ERR_ETAG_INVALID' });
    t.is((await store.get(key))?.value.toString(), 'v');
  } finally {
    await store.close();
  }
});

test('redis state: ETags never repeat for a key across delete and recreate, also within one transaction', async (t) => {
  const store = await started(RedisStateStore, 'state.redis');
  try {
    const key = `demo||${uniq('aba')}`;
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      seen.add(await store.set(set(key, `v${i}`)));
      t.true(await store.delete({ key, etag: undefined, concurrency: 'last-write' }));
    }
    t.is(seen.size, 50);
    const etags = await store.transact([
      { type: 'upsert', ...set(key, 'a') },
      { type: 'delete', key, etag: undefined, concurrency: 'last-write' },
      { type: 'upsert', ...set(key, 'b', { concurrency: 'first-write' }) },
      { type: 'upsert', ...set(key, 'c') },
    ]);
    const issued = [etags[0], etags[2], etags[3]];
    t.is(new Set([...seen, ...issued]).size, 53);
    t.is((await store.get(key))?.etag, etags[3]);
    // Operations see what the earlier ones in the same transaction left (as in SQLite).
    const err = await t.throwsAsync(
      store.transact([
        { type: 'delete', key, etag: undefined, concurrency: 'last-write' },
        { type: 'upsert', ...set(key, 'x', { concurrency: 'first-write' }) },
        { type: 'upsert', ...set(key, 'y', { concurrency: 'first-write' }) },
      ]),
      { code: 'HEARTH_ERR_TRANSACTION_FAILED' },
    );
    t.like((err as { details?: Record<string, unknown> }).details, { index: 2, code: 'HEARTH_ERR_ETAG_MISMATCH' });
    t.is((await store.get(key))?.value.toString(), 'c');
  } finally {
    await store.close();
  }
});

test('redis state: two instances on their own connections race first-write and ETag updates: exactly one wins each round', async (t) => {
  // Different connect timeouts → two clients, as two workers would have.
  const a = await started(RedisStateStore, 'state.redis', { connectTimeoutMs: 2001 });
  const b = await started(RedisStateStore, 'state.redis', { connectTimeoutMs: 2002 });
  try {
    const oneWinner = (results: PromiseSettledResult<string>[], round: string): string => {
      const won = results.filter((r): r is PromiseFulfilledResult<string> => r.status === 'fulfilled');
      t.is(won.length, 1, round);
      for (const r of results) {
        if (r.status === 'rejected') t.is((r.reason as { code?: string }).code, 'HEARTH_ERR_ETAG_MISMATCH', round);
      }
      return won[0]?.value ?? '';
    };
    for (let round = 0; round < 25; round++) {
      const key = `demo||${uniq('race')}`;
      const created = oneWinner(
        await Promise.allSettled([a.set(set(key, 'a', { concurrency: 'first-write' })), b.set(set(key, 'b', { concurrency: 'first-write' }))]),
        `create ${round}`,
      );
      const updated = oneWinner(
        await Promise.allSettled([a.set(set(key, 'a2', { etag: created })), b.set(set(key, 'b2', { etag: created }))]),
        `update ${round}`,
      );
      t.is((await a.get(key))?.etag, updated);
      t.is((await b.get(key))?.etag, updated);
    }
  } finally {
    await closeAll(a, b);
  }
});

// --- Cluster ------------------------------------------------------------------------------------

test('redis cluster mode: state, lock, sequencer and registry work; a transaction across hash slots is INVALID_ARGUMENT, within one {tag} it commits', async (t) => {
  // A one-node cluster owning every slot: real Cluster protocol (slot routing, CROSSSLOT). A lone
  // node does not know its address, so it announces one (else CLUSTER SLOTS reports an empty host).
  const node = await RedisServer.start(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1']);
  servers.push(node);
  node.cli('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  await waitFor('cluster_state:ok', () => node.cliRaw('CLUSTER', 'INFO').includes('cluster_state:ok'), { timeoutMs: 30_000, everyMs: 10, retryErrors: false });
  const meta = { mode: 'cluster', nodes: `127.0.0.1:${node.port}` };
  const make = <T extends Component>(C: Ctor<T>, type: string): T => new C(context(componentConfig('redis', type, meta), stateDir));
  const state = make(RedisStateStore, 'state.redis');
  const lock = make(RedisLockStore, 'lock.redis');
  const seq = make(RedisSequencerStore, 'sequencer.redis');
  // The registry's scripts touch several keys: its {name} hash tag keeps them in one slot.
  const registry = make(RedisServiceRegistry, 'registry.redis');
  try {
    for (const c of [state, lock, seq, registry]) await c.start();
    await waitFor('cluster client ready', () => state.health().healthy, { timeoutMs: 30_000, everyMs: 10 });
    const keys = ['demo||a', 'demo||b', 'demo||c'];
    const slot = (key: string): string => node.cliRaw('CLUSTER', 'KEYSLOT', key).trim();
    t.not(slot(`${STATE}demo||a`), slot(`${STATE}demo||b`));
    // The type's prefix carries no hash tag: an app's {tag} alone decides the slot.
    t.is(slot(`${STATE}demo||{order-9}:head`), slot('{order-9}'));
    const etags = await Promise.all(keys.map((k) => state.set(set(k, k))));
    const got = await state.bulkGet([...keys, 'demo||missing']);
    t.deepEqual(
      got.map((g) => g?.etag),
      [...etags, undefined],
    );
    await t.throwsAsync(state.transact(keys.map((k) => ({ type: 'upsert' as const, ...set(k, 'x') }))), { code: 'HEARTH_ERR_INVALID_ARGUMENT' });
    t.is((await state.get('demo||a'))?.value.toString(), 'demo||a');
    const tagged = await state.transact([
      { type: 'upsert', ...set('demo||{order-9}:head', 'h') },
      { type: 'upsert', ...set('demo||{order-9}:lines', 'l') },
    ]);
    t.is((await state.get('demo||{order-9}:lines'))?.etag, tagged[1]);
    t.is(node.cliRaw('HGET', `${STATE}demo||{order-9}:lines`, 'data').trim(), 'l');
    t.true(await state.delete({ key: 'demo||a', etag: etags[0], concurrency: 'first-write' }));
    t.true(await lock.tryLock('demo||r', 'alice', 60_000));
    t.is(await lock.unlock('demo||r', 'bob'), 'LOCK_BELONGS_TO_OTHERS');
    t.is(await seq.next('demo||s'), 1n);
    t.is(await seq.next('demo||s'), 2n);
    await registry.register({ agentId: 'host-a', address: 'host-a:7443', appIds: ['orders', 'billing'], metadata: {} });
    await registry.register({ agentId: 'host-a', address: 'host-a:7443', appIds: ['orders'], metadata: {} });
    t.deepEqual((await registry.lookup('orders')).map((r) => r.agentId), ['host-a']);
    t.deepEqual(await registry.lookup('billing'), []);
    const registryKeys = node.cliRaw('--scan', '--pattern', 'hearth:registry:*').trim().split('\n');
    t.is(registryKeys.length, 3, registryKeys.join(', '));
    t.is(new Set(registryKeys.map(slot)).size, 1);
  } finally {
    await closeAll(state, lock, seq, registry);
    await node.close();
  }
});
