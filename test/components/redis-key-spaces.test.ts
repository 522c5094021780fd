// Redis components in one database cannot reach each other's keys, nor Hearth's own: apps call the
// real runtime API (namespacing, ACLs, validation) over real Redis components on one real
// redis-server, try every key they can think of, and redis-cli checks what stayed where. Then the
// legacy layout: the keys of earlier builds exactly, with a deprecation warning; and an isolated
// component warns of legacy data it no longer reads. Serial: the intruder attacks every key in the
// database, and a warning test needs a database without strangers' keys.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { pino, type Logger } from 'pino';
import { stringify as toYaml } from 'yaml';
import { localDelivery } from '../../agent/app-channel/local-router.js';
import { createRuntimeApi } from '../../agent/building-blocks/create-runtime-api.js';
import type { CallContext, RuntimeApi } from '../../agent/building-blocks/runtime-api.js';
import type { Component } from '../../agent/components/component.js';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { ComponentSet } from '../../agent/components/component-set.js';
import { RedisConfigurationStore } from '../../agent/components/redis/redis-configuration-store.js';
import { RedisLockStore } from '../../agent/components/redis/redis-lock-store.js';
import { RedisSequencerStore } from '../../agent/components/redis/redis-sequencer-store.js';
import { RedisServiceRegistry } from '../../agent/components/redis/redis-service-registry.js';
import { RedisStateStore } from '../../agent/components/redis/redis-state-store.js';
import { registerRedisComponents } from '../../agent/components/setup.js';
import { parseConfig, type HearthConfig } from '../../agent/config/load-config.js';
import { RedisServer } from '../support/redis-server.js';
import { componentConfig, context, silentLogger } from './component-helpers.js';

const APPS = ['x', 'y', 'lock', 'seq', 'intruder'];

let server: RedisServer | undefined;
let dir: string | undefined;
let config: HearthConfig;
let components: ComponentSet | undefined;
let api: RuntimeApi;

test.before(async () => {
  server = await RedisServer.start();
  dir = await mkdtemp(path.join(os.tmpdir(), 'hx-'));
  const url = server.url;
  // Every app may use every component; `open`, `locks` and `ids` are shared (bare keys).
  config = await parseConfig(
    toYaml({
      version: 1,
      runDir: './run',
      stateDir: './data',
      apps: APPS.map((id) => ({ id, token: `${id}-token-0123456789` })),
      components: [
        { name: 'kv', type: 'state.redis', metadata: { url } },
        { name: 'open', type: 'state.redis', shared: true, metadata: { url } },
        { name: 'locks', type: 'lock.redis', shared: true, metadata: { url } },
        { name: 'ids', type: 'sequencer.redis', shared: true, metadata: { url } },
        { name: 'settings', type: 'configuration.redis', metadata: { url, pollIntervalMs: 60_000 } },
        // Heartbeats every 200 s: the record stays byte for byte the same during the test.
        { name: 'mesh', type: 'registry.redis', metadata: { url, ttlMs: 600_000 } },
      ],
    }),
    path.join(dir, 'hearth.yaml'),
  );
  const factories = new ComponentRegistry();
  registerRedisComponents(factories);
  components = await ComponentSet.start(config.components, factories, { stateDir: dir, configDir: dir, limits: config.limits, logger: silentLogger });
  api = createRuntimeApi({ components, config, version: '0.0.0-test', generation: 1, ...localDelivery(config.invoke.callbackConcurrency, silentLogger) });
});

test.after.always(async () => {
  await components?.close();
  await server?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function redis(): RedisServer {
  if (!server) throw new Error('redis-server did not start');
  return server;
}

/** A call as the app `id` makes it through any transport. */
function as(id: string): CallContext {
  const app = config.apps.find((a) => a.id === id);
  if (!app) throw new Error(`no app ${id}`);
  return { app, requestId: `test-${id}`, transport: 'grpc', logger: silentLogger };
}

/** What a hostile app tries: its outcome does not matter, only what it leaves behind. */
async function attempt(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch {
    // refused or failed: either is fine for the attacker's victims
  }
}

/** Every key in the database with its type and content, as redis-cli reads them. */
function snapshot(s: RedisServer): Map<string, string> {
  const keys = s.cliRaw('--scan').split('\n').filter((k) => k !== '');
  const out = new Map<string, string>();
  for (const key of keys.sort()) {
    const type = s.cliRaw('TYPE', key).trim();
    const content =
      type === 'hash' ? s.cliRaw('HGETALL', key) : type === 'zset' ? s.cliRaw('ZRANGE', key, '0', '-1', 'WITHSCORES') : type === 'string' ? s.cliRaw('GET', key) : '';
    out.set(key, `${type}: ${content}`);
  }
  return out;
}

test.serial('app `lock` deleting its state key `r` leaves app x\'s lock on `r` in a shared lock store alone', async (t) => {
  t.true(await api.lock.tryLock(as('x'), 'locks', 'r', 'x-owner', 60));
  await attempt(() => api.state.delete(as('lock'), 'kv', { key: 'r' }));
  await attempt(() => api.state.transact(as('lock'), 'kv', [{ type: 'delete', key: 'r' }]));
  t.false(await api.lock.tryLock(as('y'), 'locks', 'r', 'y-owner', 60), 'the lock is still held');
  t.is(redis().cliRaw('GET', 'hearth:lock:locks:shared:r').trim(), 'x-owner');

  // Its own item `r` works as any other, beside the lock.
  await api.state.save(as('lock'), 'kv', [{ key: 'r', value: Buffer.from('mine') }]);
  t.is((await api.state.get(as('lock'), 'kv', 'r')).value.toString(), 'mine');
  t.true(await api.state.delete(as('lock'), 'kv', { key: 'r' }));
  t.false(await api.lock.tryLock(as('y'), 'locks', 'r', 'y-owner', 60));
  t.is(await api.lock.unlock(as('x'), 'locks', 'r', 'x-owner'), 'SUCCESS');
});

test.serial('app `seq` saving and deleting its state key `c` cannot reset the shared counter `c`', async (t) => {
  const ids: bigint[] = [];
  for (let i = 0; i < 3; i++) ids.push(await api.sequencer.next(as('x'), 'ids', 'c'));
  t.deepEqual(ids, [1n, 2n, 3n]);
  await attempt(() => api.state.save(as('seq'), 'kv', [{ key: 'c', value: Buffer.from('0') }]));
  await attempt(() => api.state.delete(as('seq'), 'kv', { key: 'c' }));
  await attempt(() => api.state.transact(as('seq'), 'kv', [{ type: 'upsert', key: 'c', value: Buffer.from('0') }, { type: 'delete', key: 'c' }]));

  t.is(await api.sequencer.next(as('x'), 'ids', 'c'), 4n);
  t.is(await api.sequencer.next(as('y'), 'ids', 'c'), 5n);
  t.is(redis().cliRaw('GET', 'hearth:seq:ids:shared:c').trim(), '5');
});

test.serial('a shared state store reaches none of the keys in the database: not the configuration hash, not the registry, not other apps\' data', async (t) => {
  const s = redis();
  // What Hearth and its operators keep in the same database.
  s.cli('HSET', 'hearth:config:settings', 'greeting', 'hello');
  const registry = components?.find('registry', 'mesh')?.component;
  if (!registry) throw new Error('no registry component');
  await registry.register({ agentId: 'host-a', address: 'host-a.internal:7443', appIds: ['x'], metadata: {} });
  await api.state.save(as('x'), 'kv', [{ key: 'order', value: Buffer.from('x-data') }]);
  t.true(await api.lock.tryLock(as('x'), 'locks', 'res', 'x-owner', 600));
  await api.sequencer.next(as('x'), 'ids', 'n');
  const before = snapshot(s);
  t.true(before.size >= 7, [...before.keys()].join(', '));

  // The intruder names every key there is, and where earlier builds kept Hearth's own.
  const guesses = [...before.keys(), 'hearth:configuration', '{hearth:registry}:agents', '{hearth:registry}:agent:host-a', '{hearth:registry}:app:x'];
  for (const key of guesses) {
    const intruder = as('intruder');
    await attempt(() => api.state.get(intruder, 'open', key));
    await attempt(() => api.state.delete(intruder, 'open', { key }));
    await attempt(() => api.state.save(intruder, 'open', [{ key, value: Buffer.from('pwned') }]));
    await attempt(() => api.state.transact(intruder, 'open', [{ type: 'upsert', key, value: Buffer.from('pwned-again') }]));
  }

  // Everything that was there is there, unchanged; the intruder's writes sit in its own store.
  const after = snapshot(s);
  const own = 'hearth:state:open:shared:';
  t.deepEqual(new Map([...after].filter(([k]) => !k.startsWith(own))), before);
  // Keys with the separator `||` are refused (INVALID_KEY); every other one was written, in its place.
  for (const key of guesses.filter((k) => !k.includes('||'))) {
    t.is((await api.state.get(as('intruder'), 'open', key)).value.toString(), 'pwned-again', key);
    t.is(s.cliRaw('HGET', `${own}${key}`, 'data').trim(), 'pwned-again', key);
  }
  // And Hearth still reads its own keys as it wrote them.
  const items = await api.configuration.get(as('x'), 'settings', []);
  t.deepEqual(Object.keys(items), ['greeting']);
  t.is(items.greeting?.value, 'hello');
  t.deepEqual((await registry.lookup('x')).map((r) => r.agentId), ['host-a']);
  t.is((await api.state.get(as('x'), 'kv', 'order')).value.toString(), 'x-data');
  t.false(await api.lock.tryLock(as('y'), 'locks', 'res', 'y-owner', 60));
  t.is(await api.sequencer.next(as('x'), 'ids', 'n'), 2n);
});

// --- The legacy layout ------------------------------------------------------------------------------

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

function capture(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

type Ctor = new (ctx: ReturnType<typeof context>) => Component;

async function startOn(t: ExecutionContext, C: Ctor, type: string, metadata: Record<string, unknown>, logger: Logger): Promise<Component> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'hx-'));
  const c = new C(context(componentConfig('redis', type, { url: redis().url, ...metadata }), d, d, logger));
  t.teardown(async () => {
    await c.close();
    await rm(d, { recursive: true, force: true });
  });
  await c.start();
  return c;
}

const WARN = 40;

test.serial('keyLayout legacy keeps the keys of earlier builds exactly, and every such component logs its deprecation at start', async (t) => {
  const { logger, lines } = capture();
  const legacy = { keyLayout: 'legacy', db: 1 };
  const state = (await startOn(t, RedisStateStore, 'state.redis', legacy, logger)) as RedisStateStore;
  const lock = (await startOn(t, RedisLockStore, 'lock.redis', legacy, logger)) as RedisLockStore;
  const seq = (await startOn(t, RedisSequencerStore, 'sequencer.redis', legacy, logger)) as RedisSequencerStore;
  const cfg = (await startOn(t, RedisConfigurationStore, 'configuration.redis', { ...legacy, pollIntervalMs: 60_000 }, logger)) as RedisConfigurationStore;
  const reg = (await startOn(t, RedisServiceRegistry, 'registry.redis', legacy, logger)) as RedisServiceRegistry;

  await state.set({ key: 'demo||k', value: Buffer.from('v'), etag: undefined, concurrency: 'last-write', ttlSeconds: undefined, contentType: undefined });
  t.true(await lock.tryLock('demo||r', 'alice', 60_000));
  t.is(await seq.next('demo||s'), 1n);
  redis().cli('-n', '1', 'HSET', 'hearth:configuration', 'feature', 'on');
  t.is((await cfg.get(['feature'])).feature?.value, 'on');
  await reg.register({ agentId: 'host-a', address: 'host-a:7443', appIds: ['demo'], metadata: {} });
  const keys = redis().cliRaw('-n', '1', '--scan').trim().split('\n').sort();
  t.deepEqual(keys, ['demo||k', 'hearth:configuration', 'lock||demo||r', 'seq||demo||s', '{hearth:registry}:agent:host-a', '{hearth:registry}:agents', '{hearth:registry}:app:demo']);

  const deprecations = lines.filter((l) => l.level === WARN && l.keyLayout === 'legacy' && /deprecated/.test(l.msg));
  t.is(deprecations.length, 5, JSON.stringify(lines));
  t.deepEqual(deprecations.map((l) => l.keys), ['', 'lock||', 'seq||', 'hearth:configuration', '{hearth:registry}:']);
});

test.serial('an isolated component over data of its legacy layout leaves it where it is and warns once at start, naming a key it found', async (t) => {
  const s = redis();
  s.cli('-n', '2', 'HSET', 'demo||old', 'data', 'kept', 'version', '1');
  s.cli('-n', '2', 'SET', 'seq||demo||n', '41');
  s.cli('-n', '2', 'HSET', 'hearth:configuration', 'feature', 'on');
  s.cli('-n', '2', 'ZADD', '{hearth:registry}:agents', '1', 'host-old');
  const { logger, lines } = capture();
  const state = (await startOn(t, RedisStateStore, 'state.redis', { db: 2 }, logger)) as RedisStateStore;
  const seq = (await startOn(t, RedisSequencerStore, 'sequencer.redis', { db: 2 }, logger)) as RedisSequencerStore;
  const cfg = (await startOn(t, RedisConfigurationStore, 'configuration.redis', { db: 2, pollIntervalMs: 60_000 }, logger)) as RedisConfigurationStore;
  await startOn(t, RedisServiceRegistry, 'registry.redis', { db: 2 }, logger);
  await startOn(t, RedisLockStore, 'lock.redis', { db: 2 }, logger);

  const found = lines.filter((l) => l.level === WARN && typeof l.legacyKey === 'string');
  t.deepEqual(
    found.map((l) => [l.legacyKey, l.keys]),
    [
      ['demo||old', 'hearth:state:redis:app:'],
      ['seq||demo||n', 'hearth:seq:redis:app:'],
      ['hearth:configuration', 'hearth:config:redis'],
      ['{hearth:registry}:agents', 'hearth:registry:{redis}:'],
    ],
    'no warning for the lock store: no lock keys of the legacy layout',
  );
  t.is(await state.get('demo||old'), undefined);
  t.is(await seq.next('demo||n'), 1n);
  t.deepEqual(await cfg.get([]), {});
  // Nothing was moved or deleted.
  t.is(s.cliRaw('-n', '2', 'HGET', 'demo||old', 'data').trim(), 'kept');
  t.is(s.cliRaw('-n', '2', 'GET', 'seq||demo||n').trim(), '41');
});
