// Identity is the socket plus the app's token; apps never see each other's keys.
import { randomUUID } from 'node:crypto';
import anyTest, { type TestFn } from 'ava';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

const test = anyTest as TestFn<{ h: InProcess<'http'> }>;

test.before(async (t) => {
  t.context.h = await startInProcess({ transports: ['http'] });
});
test.after.always(async (t) => {
  await t.context.h?.close();
});

const key = (p: string): string => `${p}-${randomUUID().slice(0, 8)}`;

interface ErrorBody {
  errorCode: string;
  message: string;
}

test('a missing token is 401 HEARTH_ERR_UNAUTHENTICATED', async (t) => {
  const res = await t.context.h.demo.http.client.get('/v1.0/state/statestore/k', { token: null });
  t.is(res.status, 401);
  t.is(res.headers['hearth-error-code'], 'HEARTH_ERR_UNAUTHENTICATED');
  t.is(res.json<ErrorBody>().errorCode, 'HEARTH_ERR_UNAUTHENTICATED');
});

test("another app's token on demo's socket is 401", async (t) => {
  const { demo, other } = t.context.h;
  const res = await demo.http.client.get('/v1.0/metadata', { token: other.token });
  t.is(res.status, 401);
  t.is(res.json<ErrorBody>().errorCode, 'HEARTH_ERR_UNAUTHENTICATED');
  // …and its own token works on its own socket.
  t.is((await other.http.client.get('/v1.0/metadata')).status, 200);
});

test('a wrong token is 401 even on unknown routes and with a body', async (t) => {
  const c = t.context.h.demo.http.client;
  t.is((await c.get('/v1.0/nope', { token: 'wrong-token-123' })).status, 401);
  t.is((await c.post('/v1.0/state/statestore', [{ key: 'k', value: 1 }], { token: 'wrong-token-123' })).status, 401);
});

test('dapr-api-token is accepted; the Bearer scheme is case-insensitive', async (t) => {
  const { demo } = t.context.h;
  t.is((await demo.http.client.get('/v1.0/metadata', { tokenHeader: 'dapr-api-token' })).status, 200);
  const res = await demo.http.client.get('/v1.0/metadata', { token: null, headers: { authorization: `bearer ${demo.token}` } });
  t.is(res.status, 200);
});

test('healthz needs no token', async (t) => {
  const c = t.context.h.demo.http.client;
  t.is((await c.get('/v1.0/healthz', { token: null })).status, 204);
  t.is((await c.get('/v1.0/healthz/outbound', { token: null })).status, 204);
});

test("one app's keys are invisible to another with the same key name", async (t) => {
  const { demo, other } = t.context.h;
  const k = key('mine');
  t.is((await demo.http.client.post('/v1.0/state/statestore', [{ key: k, value: 'demo-secret' }])).status, 204);
  t.is((await other.http.client.get(`/v1.0/state/statestore/${k}`)).status, 204);
  const bulk = await other.http.client.post('/v1.0/state/statestore/bulk', { keys: [k] });
  t.deepEqual(bulk.json(), [{ key: k }]);
  // other writes its own value under the same name; demo still sees its own.
  await other.http.client.post('/v1.0/state/statestore', [{ key: k, value: 'other-value' }]);
  t.deepEqual((await demo.http.client.get(`/v1.0/state/statestore/${k}`)).json(), 'demo-secret');
  t.deepEqual((await other.http.client.get(`/v1.0/state/statestore/${k}`)).json(), 'other-value');
  // other cannot delete demo's key either.
  await other.http.client.delete(`/v1.0/state/statestore/${k}`);
  t.is((await demo.http.client.get(`/v1.0/state/statestore/${k}`)).status, 200);
});

test('a shared store shows the same keys to every allowed app', async (t) => {
  const { demo, other } = t.context.h;
  const k = key('common');
  await demo.http.client.post('/v1.0/state/shared', [{ key: k, value: 'both' }]);
  t.deepEqual((await other.http.client.get(`/v1.0/state/shared/${k}`)).json(), 'both');
});

test("a component outside the app's allow list is 403 HEARTH_ERR_PERMISSION_DENIED", async (t) => {
  const { demo, other } = t.context.h;
  t.is((await demo.http.client.post('/v1.0/state/private', [{ key: 'k', value: 1 }])).status, 204);
  const res = await other.http.client.get('/v1.0/state/private/k');
  t.is(res.status, 403);
  t.is(res.json<ErrorBody>().errorCode, 'HEARTH_ERR_PERMISSION_DENIED');
  const save = await other.http.client.post('/v1.0/state/private', [{ key: 'k', value: 1 }]);
  t.is(save.status, 403);
  // Metadata lists only what the app may use.
  const names = (await other.http.client.get('/v1.0/metadata')).json<{ components: { name: string }[] }>().components.map((c) => c.name);
  t.false(names.includes('private'));
  t.true(names.includes('statestore'));
});

test('a topic outside the allow list is 403 HEARTH_ERR_TOPIC_NOT_ALLOWED', async (t) => {
  const res = await t.context.h.other.http.client.post('/v1.0/publish/pubsub/secret.plans', { a: 1 });
  t.is(res.status, 403);
  t.is(res.json<ErrorBody>().errorCode, 'HEARTH_ERR_TOPIC_NOT_ALLOWED');
  t.is((await t.context.h.other.http.client.post('/v1.0/publish/pubsub/other.events', { a: 1 })).status, 204);
});

test("an app cannot ack or see another app's subscription of the same name", async (t) => {
  const { demo, other } = t.context.h;
  const topic = 'orders';
  const sub = key('iso');
  const pull = (c: typeof demo.http.client, waitMs: number) =>
    c.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/pull`, { subscription: sub, max: 10, waitMs });
  // Only demo registers the subscription (its consumer group is `demo||<sub>`), then publishes.
  await pull(demo.http.client, 0);
  t.is((await demo.http.client.post(`/v1.0/publish/pubsub/${topic}`, { n: 1 })).status, 204);
  const mine = (await pull(demo.http.client, 10_000)).json<{ deliveries: { deliveryId: string }[] }>();
  t.is(mine.deliveries.length, 1);
  const id = mine.deliveries[0]!.deliveryId;
  // other naming the same subscription reaches its own (empty) group, never demo's.
  const ack = await other.http.client.post(`/v1.0-hearth/subscriptions/pubsub/${sub}/ack`, { deliveryIds: [id] });
  t.is(ack.status, 404);
  t.is(ack.json<ErrorBody>().errorCode, 'HEARTH_ERR_UNKNOWN_DELIVERY');
  const theirs = (await pull(other.http.client, 0)).json<{ deliveries: unknown[] }>();
  t.is(theirs.deliveries.length, 0);
  // demo's delivery is untouched and still acks.
  t.is((await demo.http.client.post(`/v1.0-hearth/subscriptions/pubsub/${sub}/ack`, { deliveryIds: [id] })).status, 204);
});
