// registry.redis against a real redis-server: two registry instances play two agents; records
// expire when heartbeats stop, come back by themselves after Redis restarts empty, and redis-cli
// (a client no one here wrote) sees the keys. Serial: one test kills and restarts the server.
import test from 'ava';
import { RedisServiceRegistry } from '../../agent/components/redis/redis-service-registry.js';
import type { AgentRecord, AgentRegistration } from '../../agent/components/service-registry.js';
import { RedisServer } from '../support/redis-server.js';

import { TempDirs, componentConfig, context } from './component-helpers.js';
import { sleep, waitFor } from '../support/wait.js';

const temp = new TempDirs();
let server: RedisServer | undefined;
const opened: RedisServiceRegistry[] = [];

test.before(async () => {
  server = await RedisServer.start();
});

test.after.always(async () => {
  for (const r of opened) r.destroy();
  await server?.close();
  await temp.removeAll();
});

function redis(): RedisServer {
  if (!server) throw new Error('redis-server did not start');
  return server;
}

let prefixes = 0;
/** A key prefix of its own per test, so tests never see each other's agents. */
function freshPrefix(): string {
  prefixes += 1;
  return `t${prefixes}:`;
}

/** One registry instance = one agent process. */
async function open(keyPrefix: string, ttlMs = 15_000): Promise<RedisServiceRegistry> {
  const dir = await temp.make();
  const registry = new RedisServiceRegistry(context(componentConfig('redis', 'registry.redis', { url: redis().url, keyPrefix, ttlMs }), dir));
  opened.push(registry);
  await registry.start();
  return registry;
}

function agent(agentId: string, appIds: string[], metadata: Record<string, string> = {}): AgentRegistration {
  return { agentId, address: `${agentId}.internal:7443`, appIds, metadata };
}

const ids = (records: AgentRecord[]): string[] => records.map((r) => r.agentId);

const SHORT_TTL_MS = 600;

test.serial('two agents with different and overlapping app ids: lookup and agents() return the right ones, most recent heartbeat first', async (t) => {
  const prefix = freshPrefix();
  const hostA = await open(prefix);
  const hostB = await open(prefix);
  try {
    await hostA.register(agent('host-a', ['orders', 'billing'], { zone: 'eu-1' }));
    await sleep(20);
    await hostB.register(agent('host-b', ['orders', 'search']));
    t.deepEqual(ids(await hostA.lookup('orders')), ['host-b', 'host-a']);
    t.deepEqual(ids(await hostB.lookup('billing')), ['host-a']);
    t.deepEqual(ids(await hostA.lookup('search')), ['host-b']);
    t.deepEqual(await hostA.lookup('nobody'), []);
    t.deepEqual(ids(await hostA.agents()), ['host-b', 'host-a']);
    const [a] = await hostB.lookup('billing');
    t.like(a, { agentId: 'host-a', address: 'host-a.internal:7443', appIds: ['orders', 'billing'], metadata: { zone: 'eu-1' } });
    t.is((a?.expiresAt ?? 0) - (a?.heartbeatAt ?? 0), 15_000);
    // A re-register is a fresh heartbeat: host-a moves to the front.
    await sleep(20);
    await hostA.register(agent('host-a', ['orders', 'billing'], { zone: 'eu-1' }));
    t.deepEqual(ids(await hostB.lookup('orders')), ['host-a', 'host-b']);
  } finally {
    await hostA.close();
    await hostB.close();
  }
});

test.serial('an agent whose process dies (destroy, no deregister) disappears after the ttl; the live one stays through heartbeats', async (t) => {
  const prefix = freshPrefix();
  const dying = await open(prefix, SHORT_TTL_MS);
  const living = await open(prefix, SHORT_TTL_MS);
  try {
    await dying.register(agent('host-dies', ['orders']));
    await living.register(agent('host-lives', ['orders']));
    t.deepEqual(ids(await living.lookup('orders')).sort(), ['host-dies', 'host-lives']);
    dying.destroy();
    await waitFor('the dead agent to expire', async () => !ids(await living.lookup('orders')).includes('host-dies'), { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
    // Several ttls have passed for host-lives' first write by now: only heartbeats keep it.
    await sleep(SHORT_TTL_MS * 2);
    await waitFor('the live agent', async () => ids(await living.lookup('orders')).includes('host-lives'), { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
    t.deepEqual(ids(await living.agents()), ['host-lives']);
  } finally {
    await living.close();
  }
});

test.serial('deregister removes the agent at once; unknown ids are not an error', async (t) => {
  const prefix = freshPrefix();
  const registry = await open(prefix);
  const other = await open(prefix);
  try {
    await registry.register(agent('host-a', ['orders', 'billing']));
    await other.register(agent('host-b', ['orders']));
    await registry.deregister('host-a');
    t.deepEqual(ids(await other.lookup('orders')), ['host-b']);
    t.deepEqual(await other.lookup('billing'), []);
    t.deepEqual(ids(await other.agents()), ['host-b']);
    await t.notThrowsAsync(registry.deregister('never-registered'));
    // Another instance may withdraw a record it did not write (e.g. the previous process's).
    await registry.deregister('host-b');
    t.deepEqual(await registry.agents(), []);
  } finally {
    await registry.close();
    await other.close();
  }
});

test.serial('re-registering with fewer app ids removes the agent from the dropped app', async (t) => {
  const prefix = freshPrefix();
  const registry = await open(prefix);
  try {
    await registry.register(agent('host-a', ['orders', 'billing']));
    await registry.register(agent('host-a', ['orders']));
    t.deepEqual(await registry.lookup('billing'), []);
    t.deepEqual(ids(await registry.lookup('orders')), ['host-a']);
    t.deepEqual((await registry.lookup('orders'))[0]?.appIds, ['orders']);
    t.is(redis().cliRaw('ZSCORE', `${prefix}hearth:registry:{redis}:app:billing`, 'host-a').trim(), '');
  } finally {
    await registry.close();
  }
});

test.serial('close() deregisters what the instance registered; destroy() leaves the record to expire', async (t) => {
  const prefix = freshPrefix();
  const closing = await open(prefix);
  const destroyed = await open(prefix);
  const observer = await open(prefix);
  try {
    await closing.register(agent('host-closes', ['orders']));
    await destroyed.register(agent('host-destroyed', ['orders']));
    await closing.close();
    destroyed.destroy();
    t.deepEqual(ids(await observer.lookup('orders')), ['host-destroyed']);
    await t.throwsAsync(closing.register(agent('host-closes', ['orders'])), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
    await t.throwsAsync(closing.lookup('orders'), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
    await closing.close();
    closing.destroy();
  } finally {
    await observer.close();
  }
});

test.serial('after Redis is killed and restarted empty, a live agent re-appears by itself through its heartbeat', async (t) => {
  const prefix = freshPrefix();
  const registry = await open(prefix, SHORT_TTL_MS);
  try {
    await registry.register(agent('host-a', ['orders']));
    await redis().stop();
    await waitFor('the registry to report Redis down', () => !registry.health().healthy, { timeoutMs: 20_000, everyMs: 10 });
    await t.throwsAsync(registry.lookup('orders'), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
    // Registering while Redis is away fails fast, but the heartbeats keep trying.
    await t.throwsAsync(registry.register(agent('host-a', ['orders', 'billing'])), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
    await redis().restart();
    t.is(redis().cliRaw('DBSIZE').trim(), '0');
    await waitFor('host-a back through its heartbeat', async () => ids(await registry.lookup('billing').catch(() => [])).includes('host-a'), { timeoutMs: 30_000, everyMs: 10, retryErrors: false });
    t.deepEqual(ids(await registry.lookup('orders')), ['host-a']);
    t.true(registry.health().healthy);
  } finally {
    await registry.close();
  }
});

test.serial('redis-cli sees the record with its TTL and the index keys, all under hearth:registry:{<name>}: (one hash tag)', async (t) => {
  const prefix = freshPrefix();
  const registry = await open(prefix);
  try {
    await registry.register(agent('host-a', ['orders'], { version: '1.2.3' }));
    const keys = redis().cliRaw('--scan', '--pattern', `${prefix}*`).trim().split('\n').sort();
    t.deepEqual(keys, [`${prefix}hearth:registry:{redis}:agent:host-a`, `${prefix}hearth:registry:{redis}:agents`, `${prefix}hearth:registry:{redis}:app:orders`]);
    const record = JSON.parse(redis().cliRaw('GET', `${prefix}hearth:registry:{redis}:agent:host-a`)) as AgentRecord;
    t.like(record, { agentId: 'host-a', address: 'host-a.internal:7443', appIds: ['orders'], metadata: { version: '1.2.3' } });
    const pttl = Number(redis().cliRaw('PTTL', `${prefix}hearth:registry:{redis}:agent:host-a`));
    t.true(pttl > 0 && pttl <= 15_000, `PTTL ${pttl}`);
    t.is(Number(redis().cliRaw('ZSCORE', `${prefix}hearth:registry:{redis}:app:orders`, 'host-a')), record.expiresAt);
    t.true(Number(redis().cliRaw('PTTL', `${prefix}hearth:registry:{redis}:app:orders`)) > 0, 'the index expires too');
    // Something else wrote a record that is not one of ours: lookups skip it.
    redis().cli('SET', `${prefix}hearth:registry:{redis}:agent:junk`, 'not json');
    redis().cli('ZADD', `${prefix}hearth:registry:{redis}:app:orders`, '9999999999999', 'junk');
    t.deepEqual(ids(await registry.lookup('orders')), ['host-a']);
  } finally {
    await registry.close();
  }
});

test.serial('bad input is INVALID_ARGUMENT, bad metadata CONFIG_INVALID, use before start BACKEND_UNAVAILABLE', async (t) => {
  const dir = await temp.make();
  for (const ttlMs of [0, 50, 'soon']) {
    t.throws(() => new RedisServiceRegistry(context(componentConfig('redis', 'registry.redis', { url: redis().url, ttlMs }), dir)), {
      code: 'HEARTH_ERR_CONFIG_INVALID',
    });
  }
  const unstarted = new RedisServiceRegistry(context(componentConfig('redis', 'registry.redis', { url: redis().url }), dir));
  await t.throwsAsync(unstarted.register(agent('x', ['a'])), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  await t.throwsAsync(unstarted.lookup('a'), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  const registry = await open(freshPrefix());
  try {
    const bad: unknown[] = [
      null,
      { ...agent('', ['a']) },
      { ...agent('x', ['a']), address: '' },
      { ...agent('x', ['']) },
      { ...agent('x', ['a']), appIds: 'a' },
      { ...agent('x', ['a']), metadata: { n: 1 } },
    ];
    for (const reg of bad) await t.throwsAsync(registry.register(reg as AgentRegistration), { code: 'HEARTH_ERR_INVALID_ARGUMENT' });
    await t.throwsAsync(registry.lookup(''), { code: 'HEARTH_ERR_INVALID_ARGUMENT' });
    t.deepEqual(await registry.agents(), []);
  } finally {
    await registry.close();
  }
});
