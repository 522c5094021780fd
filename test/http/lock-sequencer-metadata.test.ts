// Locks (Dapr alpha API + Hearth keep-alive), the sequencer, metadata and health.
import { randomUUID } from 'node:crypto';
import anyTest, { type TestFn } from 'ava';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

const test = anyTest as TestFn<{ h: InProcess<'http'> }>;

test.before(async (t) => {
  t.context.h = await startInProcess({ transports: ['http'], generation: 1 });
});
test.after.always(async (t) => {
  await t.context.h?.close();
});

const uniq = (p: string): string => `${p}-${randomUUID().slice(0, 8)}`;

test('tryLock / keepalive / unlock with Dapr status numbers', async (t) => {
  const c = t.context.h.demo.http.client;
  const resourceId = uniq('res');
  const lock = (owner: string) => c.post('/v1.0-alpha1/lock/lockstore', { resourceId, lockOwner: owner, expiryInSeconds: 30 });
  const unlock = (owner: string) => c.post('/v1.0-alpha1/unlock/lockstore', { resourceId, lockOwner: owner });

  const a = await lock('alice');
  t.is(a.status, 200);
  t.deepEqual(a.json(), { success: true });
  t.deepEqual((await lock('bob')).json(), { success: false });

  const ka = await c.post('/v1.0-hearth/lock/lockstore/keepalive', { resourceId, lockOwner: 'alice', expiryInSeconds: 30 });
  t.deepEqual(ka.json(), { success: true });
  t.deepEqual((await c.post('/v1.0-hearth/lock/lockstore/keepalive', { resourceId, lockOwner: 'bob', expiryInSeconds: 30 })).json(), {
    success: false,
  });

  t.deepEqual((await unlock('bob')).json(), { status: 2 }); // LOCK_BELONGS_TO_OTHERS
  t.deepEqual((await unlock('alice')).json(), { status: 0 }); // SUCCESS
  t.deepEqual((await unlock('alice')).json(), { status: 1 }); // LOCK_DOES_NOT_EXIST
  t.deepEqual((await lock('bob')).json(), { success: true });
});

test("locks are per app: other's lock of the same resource id does not collide", async (t) => {
  const { demo, other } = t.context.h;
  const resourceId = uniq('shared-name');
  const body = { resourceId, lockOwner: 'x', expiryInSeconds: 30 };
  t.deepEqual((await demo.http.client.post('/v1.0-alpha1/lock/lockstore', body)).json(), { success: true });
  t.deepEqual((await other.http.client.post('/v1.0-alpha1/lock/lockstore', { ...body, lockOwner: 'y' })).json(), { success: true });
});

test('a lock with a non-positive expiry is refused with a coded error', async (t) => {
  const res = await t.context.h.demo.http.client.post('/v1.0-alpha1/lock/lockstore', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 0 });
  t.is(res.status, 400);
  t.is(res.json<{ errorCode: string }>().errorCode, 'HEARTH_ERR_INVALID_ARGUMENT');
});

test('sequencer ids are decimal strings, strictly increasing per key', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = uniq('seq');
  const ids: bigint[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await c.post(`/v1.0-hearth/sequencer/sequencer/${k}`);
    t.is(res.status, 200);
    const { nextId } = res.json<{ nextId: string }>();
    t.regex(nextId, /^\d+$/);
    ids.push(BigInt(nextId));
  }
  for (let i = 1; i < ids.length; i++) t.true(ids[i]! > ids[i - 1]!);
  const parallel = await Promise.all(Array.from({ length: 10 }, () => c.post(`/v1.0-hearth/sequencer/sequencer/${k}`)));
  const values = parallel.map((r) => r.json<{ nextId: string }>().nextId);
  t.is(new Set(values).size, 10);
});

test('GET /v1.0/metadata is Dapr-shaped', async (t) => {
  const res = await t.context.h.demo.http.client.get('/v1.0/metadata');
  t.is(res.status, 200);
  const m = res.json<{
    id: string;
    runtimeVersion: string;
    components: { name: string; type: string; version: string; capabilities: string[] }[];
    extended: Record<string, string>;
    allowedTopics: string[];
  }>();
  t.is(m.id, 'demo');
  t.is(m.runtimeVersion, '0.0.0-test');
  t.is(m.extended.generation, '1');
  const state = m.components.find((c) => c.name === 'statestore');
  t.is(state?.type, 'state.sqlite');
  t.is(state?.version, 'v1');
  t.true(state?.capabilities.includes('ETAG'));
  t.deepEqual(m.allowedTopics, ['*']);
});

test('healthz is 204 without a token; HEAD works too', async (t) => {
  const c = t.context.h.demo.http.client;
  t.is((await c.get('/v1.0/healthz', { token: null })).status, 204);
  t.is((await c.request({ method: 'HEAD', path: '/v1.0/healthz', token: null })).status, 204);
});
