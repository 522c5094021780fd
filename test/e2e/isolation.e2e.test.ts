// Multi-tenant isolation on a real `hearth start`: per-app key namespaces, the socket is the
// identity and the token must match it, component and topic ACLs, and shared stores.
import { createHash } from 'node:crypto';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { subscribe } from '../helpers/grpc-subscription.js';
import type { GrpcClients } from '../helpers/grpc-client.js';
import { defaultTestConfig, startHearth, type HearthProcess } from '../support/hearth-process.js';
import type { HttpClient } from '../helpers/http-client.js';
import { assertGrpcError, assertHttpError, grpcConnection, httpClient, TOKENS, uniq } from './e2e-helpers.js';

const S = 'default';
const HASHED_TOKEN = 'hashed-app-token-0001';
let h: HearthProcess;
const grpcOf: Record<string, GrpcClients> = {};
const httpOf: Record<string, HttpClient> = {};

test.before(async () => {
  h = await startHearth({
    config: {
      apps: [
        { id: 'demo', token: TOKENS.demo },
        { id: 'other', token: TOKENS.other, allow: { components: ['default', 'shared'], topics: ['orders', 'other.*'] } },
        // Only the hash is in the file.
        { id: 'hashed', tokenSha256: createHash('sha256').update(HASHED_TOKEN).digest('hex') },
      ],
      components: [
        ...(defaultTestConfig().components as unknown[]),
        { name: 'private', type: 'state.sqlite' },
        { name: 'shared', type: 'state.sqlite', shared: true },
      ],
    },
  });
  for (const app of ['demo', 'other', 'hashed']) {
    const token = app === 'hashed' ? HASHED_TOKEN : undefined;
    grpcOf[app] = grpcConnection(h, app, token);
    httpOf[app] = httpClient(h, app, token !== undefined ? { token } : {});
  }
});
test.after.always(async () => {
  for (const x of [...Object.values(grpcOf), ...Object.values(httpOf)]) x.close();
  await h?.stop();
});

const demoG = (): GrpcClients => grpcOf.demo!;
const otherG = (): GrpcClients => grpcOf.other!;
const demoH = (): HttpClient => httpOf.demo!;
const otherH = (): HttpClient => httpOf.other!;

test('the same key is two keys for two apps, on every state operation and both transports', async (t) => {
  const k = uniq('same');
  await demoG().state.SaveState({ storeName: S, states: [{ key: k, value: Buffer.from('"demo"'), contentType: 'application/json' }] });
  t.is((await otherH().post(`/v1.0/state/${S}`, [{ key: k, value: 'other' }])).status, 204);
  t.deepEqual((await demoH().get(`/v1.0/state/${S}/${k}`)).json(), 'demo');
  t.deepEqual((await otherH().get(`/v1.0/state/${S}/${k}`)).json(), 'other');
  t.is((await otherG().state.GetState({ storeName: S, key: k })).data.toString(), '"other"');

  const bulk = await otherG().state.GetBulkState({ storeName: S, keys: [k] });
  t.is(bulk.items[0]?.data.toString(), '"other"');
  // A transaction of one app deletes only its own key.
  await otherG().state.ExecuteStateTransaction({ storeName: S, operations: [{ operationType: 'delete', request: { key: k } }] });
  t.is((await otherH().get(`/v1.0/state/${S}/${k}`)).status, 204);
  t.deepEqual((await demoH().get(`/v1.0/state/${S}/${k}`)).json(), 'demo');
  // A key only other has is missing for demo, and demo deleting it removes nothing.
  const only = uniq('only-other');
  await otherH().post(`/v1.0/state/${S}`, [{ key: only, value: 1 }]);
  t.false((await demoG().state.GetState({ storeName: S, key: only })).found);
  t.false((await demoG().state.DeleteState({ storeName: S, key: only })).deleted);
  t.deepEqual((await otherH().get(`/v1.0/state/${S}/${only}`)).json(), 1);
  // An ETag of other's key does not reach demo's key either.
  const otherEtag = String((await otherH().get(`/v1.0/state/${S}/${only}`)).headers.etag);
  const res = await demoH().post(`/v1.0/state/${S}`, [{ key: only, value: 2, etag: otherEtag, options: { concurrency: 'first-write' } }]);
  assertHttpError(t, res, 409, 'HEARTH_ERR_ETAG_MISMATCH', "other's ETag on demo's (missing) key");
});

test("another app's token on this app's sockets is HEARTH_ERR_UNAUTHENTICATED (gRPC and HTTP)", async (t) => {
  const foreign = grpcConnection(h, 'demo', TOKENS.other);
  t.teardown(() => foreign.close());
  await assertGrpcError(t, foreign.state.GetState({ storeName: S, key: 'k' }), grpc.status.UNAUTHENTICATED, 'HEARTH_ERR_UNAUTHENTICATED', 'GetState');
  await assertGrpcError(
    t,
    foreign.state.SaveState({ storeName: S, states: [{ key: 'k', value: Buffer.from('x') }] }),
    grpc.status.UNAUTHENTICATED,
    'HEARTH_ERR_UNAUTHENTICATED',
    'SaveState',
  );
  await assertGrpcError(
    t,
    foreign.pubsub.Publish({ pubsubName: S, topic: 'orders', data: Buffer.from('x'), dataContentType: 'text/plain' }),
    grpc.status.UNAUTHENTICATED,
    'HEARTH_ERR_UNAUTHENTICATED',
    'Publish',
  );
  await assertGrpcError(t, foreign.metadata.GetMetadata({}), grpc.status.UNAUTHENTICATED, 'HEARTH_ERR_UNAUTHENTICATED', 'GetMetadata');
  const stream = subscribe(foreign, { pubsubName: S, topic: 'orders' });
  const end = await stream.ended;
  t.is(end.code, grpc.status.UNAUTHENTICATED);
  t.is(end.hearthCode, 'HEARTH_ERR_UNAUTHENTICATED');

  // The other way round too, and the hashed app's token on demo's socket.
  const reverse = grpcConnection(h, 'other', TOKENS.demo);
  const hashedOnDemo = grpcConnection(h, 'demo', HASHED_TOKEN);
  t.teardown(() => [reverse, hashedOnDemo].forEach((x) => x.close()));
  await assertGrpcError(t, reverse.sequencer.GetNextId({ storeName: S, key: 'k' }), grpc.status.UNAUTHENTICATED, 'HEARTH_ERR_UNAUTHENTICATED', 'demo token on other');
  await assertGrpcError(t, hashedOnDemo.sequencer.GetNextId({ storeName: S, key: 'k' }), grpc.status.UNAUTHENTICATED, 'HEARTH_ERR_UNAUTHENTICATED', 'hashed token on demo');

  const c = demoH();
  for (const [method, path, body] of [
    ['GET', `/v1.0/state/${S}/k`, undefined],
    ['POST', `/v1.0/state/${S}`, [{ key: 'k', value: 1 }]],
    ['POST', `/v1.0/publish/${S}/orders`, { x: 1 }],
    ['POST', `/v1.0-hearth/subscriptions/${S}/orders/pull`, {}],
    ['POST', `/v1.0-alpha1/lock/${S}`, { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 5 }],
    ['POST', `/v1.0-hearth/sequencer/${S}/k`, undefined],
    ['GET', '/v1.0/metadata', undefined],
  ] as const) {
    const label = `${method} ${path}`;
    assertHttpError(t, await c.request({ method, path, body, token: TOKENS.other }), 401, 'HEARTH_ERR_UNAUTHENTICATED', `${label} other's token`);
    assertHttpError(t, await c.request({ method, path, body, token: TOKENS.other, tokenHeader: 'dapr-api-token' }), 401, 'HEARTH_ERR_UNAUTHENTICATED', `${label} other's dapr-api-token`);
  }
  assertHttpError(t, await otherH().get('/v1.0/metadata', { token: TOKENS.demo }), 401, 'HEARTH_ERR_UNAUTHENTICATED', "demo's token on other");
  assertHttpError(t, await otherH().get('/v1.0/metadata', { token: HASHED_TOKEN }), 401, 'HEARTH_ERR_UNAUTHENTICATED', "hashed's token on other");
});

test('a missing, empty, wrong or malformed token is HEARTH_ERR_UNAUTHENTICATED; health needs none', async (t) => {
  const anonymous = grpcConnection(h, 'demo', null);
  const wrong = grpcConnection(h, 'demo', 'not-the-token');
  t.teardown(() => [anonymous, wrong].forEach((x) => x.close()));
  await assertGrpcError(t, anonymous.state.GetState({ storeName: S, key: 'k' }), grpc.status.UNAUTHENTICATED, 'HEARTH_ERR_UNAUTHENTICATED', 'none');
  await assertGrpcError(t, wrong.state.GetState({ storeName: S, key: 'k' }), grpc.status.UNAUTHENTICATED, 'HEARTH_ERR_UNAUTHENTICATED', 'wrong');
  for (const header of ['Basic demo-token', 'Bearer', 'Bearer ', 'bearer demo-token-x', 'Bearer other-token']) {
    const md = new grpc.Metadata();
    md.set('authorization', header);
    await assertGrpcError(t, anonymous.state.GetState({ storeName: S, key: 'k' }, md), grpc.status.UNAUTHENTICATED, 'HEARTH_ERR_UNAUTHENTICATED', header);
    const res = await demoH().get(`/v1.0/state/${S}/k`, { token: null, headers: { authorization: header } });
    assertHttpError(t, res, 401, 'HEARTH_ERR_UNAUTHENTICATED', `HTTP ${header}`);
  }
  assertHttpError(t, await demoH().get(`/v1.0/state/${S}/k`, { token: null }), 401, 'HEARTH_ERR_UNAUTHENTICATED', 'HTTP none');
  assertHttpError(t, await demoH().get(`/v1.0/state/${S}/k`, { token: 'not-the-token' }), 401, 'HEARTH_ERR_UNAUTHENTICATED', 'HTTP wrong');
  t.is((await anonymous.health.Check({ service: '' })).status, 'SERVING');
  t.is((await demoH().get('/v1.0/healthz', { token: null })).status, 204);
});

test('dapr-api-token is accepted on HTTP; a token kept only as its hash works on its own sockets', async (t) => {
  const k = uniq('dapr');
  const saved = await demoH().request({ method: 'POST', path: `/v1.0/state/${S}`, body: [{ key: k, value: 'via dapr header' }], tokenHeader: 'dapr-api-token' });
  t.is(saved.status, 204);
  const got = await demoH().request({ method: 'GET', path: `/v1.0/state/${S}/${k}`, tokenHeader: 'dapr-api-token' });
  t.deepEqual(got.json(), 'via dapr header');

  const hashedG = grpcOf.hashed!;
  const hashedH = httpOf.hashed!;
  t.is((await hashedG.metadata.GetMetadata({})).appId, 'hashed');
  t.is((await hashedH.get('/v1.0/metadata')).json<{ id: string }>().id, 'hashed');
  t.is((await hashedH.request({ method: 'GET', path: '/v1.0/metadata', tokenHeader: 'dapr-api-token' })).status, 200);
});

test('a component outside allow.components is HEARTH_ERR_PERMISSION_DENIED on both transports', async (t) => {
  const k = uniq('priv');
  await assertGrpcError(t, otherG().state.GetState({ storeName: 'private', key: k }), grpc.status.PERMISSION_DENIED, 'HEARTH_ERR_PERMISSION_DENIED', 'GetState');
  await assertGrpcError(
    t,
    otherG().state.SaveState({ storeName: 'private', states: [{ key: k, value: Buffer.from('x') }] }),
    grpc.status.PERMISSION_DENIED,
    'HEARTH_ERR_PERMISSION_DENIED',
    'SaveState',
  );
  assertHttpError(t, await otherH().get(`/v1.0/state/private/${k}`), 403, 'HEARTH_ERR_PERMISSION_DENIED', 'GET');
  assertHttpError(t, await otherH().post('/v1.0/state/private', [{ key: k, value: 1 }]), 403, 'HEARTH_ERR_PERMISSION_DENIED', 'POST');
  assertHttpError(t, await otherH().post('/v1.0/state/private/bulk', { keys: [k] }), 403, 'HEARTH_ERR_PERMISSION_DENIED', 'bulk');
  // demo may use it; other's metadata does not list it.
  await demoG().state.SaveState({ storeName: 'private', states: [{ key: k, value: Buffer.from('mine') }] });
  t.is((await demoH().get(`/v1.0/state/private/${k}`)).text(), 'mine');
  const names = (await otherG().metadata.GetMetadata({})).components.map((x) => x.name);
  t.false(names.includes('private'));
  t.true(names.includes('shared'));
  t.true((await demoG().metadata.GetMetadata({})).components.some((x) => x.name === 'private'));
});

test('a topic outside allow.topics is HEARTH_ERR_TOPIC_NOT_ALLOWED for publish, subscribe, pull and dead letters', async (t) => {
  assertHttpError(t, await otherH().post(`/v1.0/publish/${S}/secret`, { x: 1 }), 403, 'HEARTH_ERR_TOPIC_NOT_ALLOWED', 'HTTP publish');
  await assertGrpcError(
    t,
    otherG().pubsub.Publish({ pubsubName: S, topic: 'secret', data: Buffer.from('x'), dataContentType: 'text/plain' }),
    grpc.status.PERMISSION_DENIED,
    'HEARTH_ERR_TOPIC_NOT_ALLOWED',
    'gRPC publish',
  );
  const stream = subscribe(otherG(), { pubsubName: S, topic: 'secret' });
  const end = await stream.ended;
  t.is(end.code, grpc.status.PERMISSION_DENIED);
  t.is(end.hearthCode, 'HEARTH_ERR_TOPIC_NOT_ALLOWED');
  const dl = subscribe(otherG(), { pubsubName: S, topic: 'other.jobs', deadLetterTopic: 'secret' });
  t.is((await dl.ended).hearthCode, 'HEARTH_ERR_TOPIC_NOT_ALLOWED');
  assertHttpError(t, await otherH().post(`/v1.0-hearth/subscriptions/${S}/secret/pull`, {}), 403, 'HEARTH_ERR_TOPIC_NOT_ALLOWED', 'pull');
  assertHttpError(
    t,
    await otherH().post(`/v1.0-hearth/subscriptions/${S}/other.jobs/pull`, { deadLetterTopic: 'secret' }),
    403,
    'HEARTH_ERR_TOPIC_NOT_ALLOWED',
    'pull with a forbidden dead-letter topic',
  );
  // Allowed topics work, and demo (topics: *) may use `secret`.
  t.is((await otherH().post(`/v1.0/publish/${S}/orders`, { x: 1 })).status, 204);
  t.is((await otherH().post(`/v1.0/publish/${S}/other.jobs`, { x: 1 })).status, 204);
  t.is((await demoH().post(`/v1.0/publish/${S}/secret`, { x: 1 })).status, 204);
  t.deepEqual((await otherG().metadata.GetMetadata({})).allowedTopics, ['orders', 'other.*']);
});

test('a shared: true store is one key space for every app, on both transports', async (t) => {
  const k = uniq('common');
  t.is((await demoH().post('/v1.0/state/shared', [{ key: k, value: { by: 'demo' } }])).status, 204);
  const got = await otherG().state.GetState({ storeName: 'shared', key: k });
  t.true(got.found);
  t.deepEqual(JSON.parse(got.data.toString()), { by: 'demo' });
  await otherG().state.SaveState({ storeName: 'shared', states: [{ key: k, value: Buffer.from('{"by":"other"}'), contentType: 'application/json', etag: { value: got.etag } }] });
  t.deepEqual((await demoH().get(`/v1.0/state/shared/${k}`)).json(), { by: 'other' });
  // demo's stale ETag now fails: it is the same item.
  assertHttpError(t, await demoH().delete(`/v1.0/state/shared/${k}`, { headers: { 'if-match': got.etag } }), 409, 'HEARTH_ERR_ETAG_MISMATCH');
  t.true((await otherG().metadata.GetMetadata({})).components.find((x) => x.name === 'shared')?.capabilities.includes('SHARED'));
  // The non-shared store still separates them.
  t.is((await otherH().get(`/v1.0/state/${S}/${k}`)).status, 204);
});

test('lock resources, sequencer keys and subscription names are per app too', async (t) => {
  const resourceId = uniq('res');
  t.true((await demoG().lock.TryLock({ storeName: S, resourceId, lockOwner: 'x', expiryInSeconds: 30 })).success);
  t.deepEqual((await otherH().post(`/v1.0-alpha1/unlock/${S}`, { resourceId, lockOwner: 'x' })).json(), { status: 1 }, "demo's lock does not exist for other");
  t.deepEqual((await otherH().post(`/v1.0-alpha1/lock/${S}`, { resourceId, lockOwner: 'y', expiryInSeconds: 30 })).json(), { success: true });
  t.is((await demoG().lock.Unlock({ storeName: S, resourceId, lockOwner: 'x' })).status, 'SUCCESS', "other's lock left demo's alone");

  const key = uniq('seq');
  for (let i = 0; i < 3; i++) await demoG().sequencer.GetNextId({ storeName: S, key });
  t.deepEqual((await otherH().post(`/v1.0-hearth/sequencer/${S}/${key}`)).json(), { nextId: '1' });

  // Both apps subscribe `orders` under the same subscription name: each group gets the message.
  const demoSub = subscribe(demoG(), { pubsubName: S, topic: 'orders', subscription: 'orders-sub' });
  const otherSub = subscribe(otherG(), { pubsubName: S, topic: 'orders', subscription: 'orders-sub' });
  t.teardown(() => [demoSub, otherSub].forEach((s) => s.cancel()));
  await Promise.all([demoSub.ready, otherSub.ready]);
  const { messageId } = await otherG().pubsub.Publish({ pubsubName: S, topic: 'orders', data: Buffer.from('o'), dataContentType: 'text/plain' });
  const [a, b] = await Promise.all([
    demoSub.nextMatching((d) => d.messageId === messageId),
    otherSub.nextMatching((d) => d.messageId === messageId),
  ]);
  t.is((JSON.parse(a.data.toString()) as { source: string }).source, 'other');
  demoSub.ack(a.deliveryId);
  otherSub.ack(b.deliveryId);
  await Promise.all([demoSub.end(), otherSub.end()]);
});
