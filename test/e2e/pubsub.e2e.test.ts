// Pub/sub against a real `hearth start` (two workers): HTTP publish → gRPC Subscribe and gRPC
// publish → HTTP pull, CloudEvents and raw payloads, ack/nack/ack-deadline redelivery,
// dead-lettering, consumer groups shared across workers, and per-app delivery ownership.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { GrpcClients } from '../helpers/grpc-client.js';
import { subscribe, type TestSubscription } from '../helpers/grpc-subscription.js';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import type { HttpClient } from '../helpers/http-client.js';
import type { CloudEvent, PulledDelivery, PullResult } from '../helpers/pubsub-wire.js';
import {
  assertGrpcError,
  assertHttpError,
  Collector,
  grpcConnection,
  grpcConnectionPerWorker,
  httpClient,
  receivedAll,
  uniq,
} from './e2e-helpers.js';
import { waitFor } from '../support/wait.js';

const P = 'default';
let h: HearthProcess;
let g: GrpcClients;
let c: HttpClient;
let otherHttp: HttpClient;
let otherGrpc: GrpcClients;

test.before(async () => {
  h = await startHearth({ config: { logLevel: 'debug' } });
  g = grpcConnection(h, 'demo');
  c = httpClient(h, 'demo');
  otherHttp = httpClient(h, 'other');
  otherGrpc = grpcConnection(h, 'other');
});
test.after.always(async () => {
  for (const x of [g, c, otherHttp, otherGrpc]) x?.close();
  await h?.stop();
});

/** A subscription stream closed when the test ends. */
function sub(t: { teardown(fn: () => void): void }, clients: GrpcClients, initial: Record<string, unknown>): TestSubscription {
  const s = subscribe(clients, initial);
  t.teardown(() => s.cancel());
  return s;
}

async function pull(client: HttpClient, topic: string, body: Record<string, unknown> = {}): Promise<PullResult> {
  const res = await client.post(`/v1.0-hearth/subscriptions/${P}/${topic}/pull`, { max: 10, waitMs: 10_000, ...body });
  if (res.status !== 200) throw new Error(`pull failed: ${res.status} ${res.text()}`);
  return res.json<PullResult>();
}

async function publishHttp(client: HttpClient, topic: string, body: unknown, headers: Record<string, string> = {}, query = ''): Promise<string> {
  const res = await client.post(`/v1.0/publish/${P}/${topic}${query}`, body, { headers });
  if (res.status !== 204) throw new Error(`publish failed: ${res.status} ${res.text()}`);
  const id = res.headers['hearth-message-id'];
  if (typeof id !== 'string' || id === '') throw new Error('no hearth-message-id header');
  return id;
}

test('HTTP publish → gRPC Subscribe: a CloudEvents 1.0 envelope with every field', async (t) => {
  const tp = uniq('ce');
  const s = sub(t, g, { pubsubName: P, topic: tp });
  t.is(await s.ready, tp);
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const messageId = await publishHttp(c, tp, { order: 42 }, { traceparent });
  const d = await s.next();
  t.is(d.messageId, messageId);
  t.is(d.topic, tp);
  t.is(d.pubsubName, P);
  t.is(d.attempt, 1);
  t.is(d.dataContentType, 'application/cloudevents+json');
  const ce = JSON.parse(d.data.toString()) as CloudEvent;
  t.is(ce.specversion, '1.0');
  t.regex(ce.id, /^[0-9a-f-]{36}$/);
  t.is(ce.source, 'demo');
  t.is(typeof ce.type, 'string');
  t.is(ce.topic, tp);
  t.is(ce.pubsubname, P);
  t.false(Number.isNaN(Date.parse(ce.time)));
  t.is(ce.datacontenttype, 'application/json');
  t.deepEqual(ce.data, { order: 42 });
  t.is(ce.traceparent, traceparent);
  s.ack(d.deliveryId);

  // Text and binary data, still enveloped.
  await publishHttp(c, tp, 'hello', { 'content-type': 'text/plain' });
  const text = JSON.parse((await s.next()).data.toString()) as CloudEvent;
  t.is(text.datacontenttype, 'text/plain');
  t.is(text.data, 'hello');
  await publishHttp(c, tp, Buffer.from([0, 1, 254, 255]), { 'content-type': 'application/octet-stream' });
  const bin = await s.next();
  const binEvent = JSON.parse(bin.data.toString()) as CloudEvent;
  t.is(binEvent.data_base64, Buffer.from([0, 1, 254, 255]).toString('base64'));
  s.ack(bin.deliveryId);
  t.is((await s.end()).code, grpc.status.OK);
});

test('raw mode: HTTP ?metadata.rawPayload=true and gRPC rawPayload deliver the bytes as published', async (t) => {
  const tp = uniq('raw');
  const s = sub(t, g, { pubsubName: P, topic: tp });
  await s.ready;
  const id = await publishHttp(c, tp, 'raw words', { 'content-type': 'text/plain' }, '?metadata.rawPayload=true&metadata.custom=x');
  const d = await s.next();
  t.is(d.messageId, id);
  t.is(d.data.toString(), 'raw words');
  t.is(d.dataContentType, 'text/plain');
  t.is(d.metadata.custom, 'x');
  s.ack(d.deliveryId);

  // gRPC raw publish → HTTP pull: JSON comes back parsed, other bytes as base64.
  const tp2 = uniq('raw-pull');
  await pull(c, tp2, { waitMs: 0 });
  await g.pubsub.Publish({ pubsubName: P, topic: tp2, data: Buffer.from('{"plain":true}'), dataContentType: 'application/json', metadata: { rawPayload: 'true' } });
  await g.pubsub.Publish({ pubsubName: P, topic: tp2, data: Buffer.from([9, 8, 7]), dataContentType: 'application/octet-stream', metadata: { rawPayload: 'true' } });
  const got: PulledDelivery[] = [];
  while (got.length < 2) got.push(...(await pull(c, tp2)).deliveries);
  const json = got.find((x) => x.contentType === 'application/json');
  const bin = got.find((x) => x.contentType === 'application/octet-stream');
  t.deepEqual(json?.data, { plain: true });
  t.is(bin?.dataBase64, Buffer.from([9, 8, 7]).toString('base64'));
  t.is((await c.post(`/v1.0-hearth/subscriptions/${P}/${tp2}/ack`, { deliveryIds: got.map((x) => x.deliveryId) })).status, 204);
  await s.end();
});

test('gRPC: nack redelivers with the next attempt, an unacked delivery comes back after its ack deadline', async (t) => {
  const tp = uniq('redeliver');
  const s = sub(t, g, { pubsubName: P, topic: tp, subscription: 'workers', ackDeadlineMs: 1000 });
  t.is(await s.ready, 'workers');
  const { messageId } = await g.pubsub.Publish({ pubsubName: P, topic: tp, data: Buffer.from('"x"'), dataContentType: 'application/json' });
  const first = await s.next();
  t.is(first.attempt, 1);
  s.nack(first.deliveryId);
  const second = await s.next();
  t.is(second.messageId, messageId);
  t.is(second.attempt, 2);
  // Neither acked nor nacked: back after the deadline.
  const third = await s.next();
  t.is(third.messageId, messageId);
  t.is(third.attempt, 3);
  s.ack(third.deliveryId);
  // Acked: a later marker is the next delivery.
  const marker = await g.pubsub.Publish({ pubsubName: P, topic: tp, data: Buffer.from('"m"'), dataContentType: 'application/json' });
  const next = await s.next();
  t.is(next.messageId, marker.messageId);
  s.ack(next.deliveryId);
  await s.end();
});

test('HTTP pull: publish on gRPC, pull, nack, pull again, ack; ack deadline redelivery', async (t) => {
  const tp = uniq('pull');
  const first = await pull(c, tp, { waitMs: 0, ackDeadlineMs: 1000 });
  t.deepEqual(first, { subscription: tp, deliveries: [] });
  const { messageId } = await g.pubsub.Publish({ pubsubName: P, topic: tp, data: Buffer.from('{"n":1}'), dataContentType: 'application/json' });
  const d1 = (await pull(c, tp, { ackDeadlineMs: 1000 })).deliveries[0];
  t.is(d1?.messageId, messageId);
  t.is(d1?.attempt, 1);
  t.is(d1?.pubsubName, P);
  t.regex(d1?.contentType ?? '', /cloudevents\+json/);
  t.deepEqual((d1?.data as CloudEvent).data, { n: 1 });
  t.is((await c.post(`/v1.0-hearth/subscriptions/${P}/${tp}/nack`, { deliveryIds: [d1?.deliveryId], delayMs: 0 })).status, 204);
  const d2 = (await pull(c, tp, { ackDeadlineMs: 1000 })).deliveries[0];
  t.is(d2?.messageId, messageId);
  t.is(d2?.attempt, 2);
  // Not acked: the long poll returns it again once its deadline passed.
  const d3 = (await pull(c, tp, { ackDeadlineMs: 1000, waitMs: 20_000 })).deliveries[0];
  t.is(d3?.messageId, messageId);
  t.is(d3?.attempt, 3);
  t.is((await c.post(`/v1.0-hearth/subscriptions/${P}/${tp}/ack`, { deliveryIds: [d3?.deliveryId] })).status, 204);
  t.is((await pull(c, tp, { waitMs: 300 })).deliveries.length, 0);
  // The old delivery ids are spent.
  assertHttpError(t, await c.post(`/v1.0-hearth/subscriptions/${P}/${tp}/ack`, { deliveryIds: [d1?.deliveryId] }), 404, 'HEARTH_ERR_UNKNOWN_DELIVERY', 'spent id');
});

test('dead letter: after maxDeliveryAttempts the message goes to <topic>.dead-letter (gRPC)', async (t) => {
  const tp = uniq('poison');
  const dlq = sub(t, g, { pubsubName: P, topic: `${tp}.dead-letter` });
  await dlq.ready;
  const s = sub(t, g, { pubsubName: P, topic: tp, maxDeliveryAttempts: 3 });
  await s.ready;
  const messageId = await publishHttp(c, tp, 'poison', { 'content-type': 'text/plain' });
  for (let attempt = 1; attempt <= 3; attempt++) {
    const d = await s.next();
    t.is(d.messageId, messageId);
    t.is(d.attempt, attempt);
    s.nack(d.deliveryId);
  }
  const dead = await dlq.next();
  t.is(dead.topic, `${tp}.dead-letter`);
  t.is(dead.metadata['hearth.deadletter.original-message-id'], messageId);
  t.is(dead.metadata['hearth.deadletter.original-topic'], tp);
  t.is((JSON.parse(dead.data.toString()) as CloudEvent).data, 'poison');
  dlq.ack(dead.deliveryId);
  await Promise.all([s.end(), dlq.end()]);
});

test('dead letter from an HTTP pull subscription to a custom topic, read on gRPC', async (t) => {
  const tp = uniq('poison-pull');
  const dlTopic = `${tp}.failed`;
  const dlq = sub(t, g, { pubsubName: P, topic: dlTopic });
  await dlq.ready;
  const settings = { maxDeliveryAttempts: 2, deadLetterTopic: dlTopic };
  await pull(c, tp, { ...settings, waitMs: 0 });
  const messageId = await publishHttp(c, tp, { bad: true });
  for (let attempt = 1; attempt <= 2; attempt++) {
    const d = (await pull(c, tp, settings)).deliveries[0];
    t.is(d?.messageId, messageId);
    t.is(d?.attempt, attempt);
    t.is((await c.post(`/v1.0-hearth/subscriptions/${P}/${tp}/nack`, { deliveryIds: [d?.deliveryId] })).status, 204);
  }
  // The broker moves exhausted deliveries when the group is next consumed: for a pull
  // subscription, the next pull (which then has nothing to return).
  t.is((await pull(c, tp, { ...settings, waitMs: 300 })).deliveries.length, 0);
  const dead = await dlq.next();
  t.is(dead.metadata['hearth.deadletter.original-message-id'], messageId);
  t.deepEqual((JSON.parse(dead.data.toString()) as CloudEvent).data, { bad: true });
  dlq.ack(dead.deliveryId);
  await dlq.end();
});

test('one consumer group across workers: two streams of one subscription get every message exactly once', async (t) => {
  const tp = uniq('group');
  const perWorker = await grpcConnectionPerWorker(h, 'demo');
  t.teardown(() => perWorker.forEach((x) => x.close()));
  t.is(perWorker.size, 2);
  const collectors: Collector[] = [];
  for (const conn of perWorker.values()) {
    const s = sub(t, conn, { pubsubName: P, topic: tp, subscription: 'shared-group', ackDeadlineMs: 120_000, maxInFlight: 4 });
    t.is(await s.ready, 'shared-group');
    collectors.push(new Collector(s));
  }
  const N = 40;
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    // New connections: the publishes are spread over both workers too.
    const once = httpClient(h, 'demo', { keepAlive: false });
    try {
      ids.push(await publishHttp(once, tp, { i }));
    } finally {
      once.close();
    }
  }
  await receivedAll(collectors, ids);
  const perStream = collectors.map((x) => x.deliveries.length);
  t.log(`deliveries per stream (one per worker): ${perStream.join(' + ')}`);
  for (const id of ids) t.is(collectors.reduce((n, x) => n + x.count(id), 0), 1, `message ${id} delivered once`);

  // Every one was acked: a marker is the only thing still to come, exactly once.
  const marker = await publishHttp(c, tp, { marker: true });
  await receivedAll(collectors, [marker]);
  t.is(collectors.reduce((n, x) => n + x.deliveries.length, 0), N + 1);
  await Promise.all(collectors.map((x) => x.sub.end()));
});

test('two subscriptions of one topic, on different workers, each receive every message', async (t) => {
  const tp = uniq('fanout');
  const perWorker = [...(await grpcConnectionPerWorker(h, 'demo')).values()];
  t.teardown(() => perWorker.forEach((x) => x.close()));
  const audit = new Collector(sub(t, perWorker[0]!, { pubsubName: P, topic: tp, subscription: 'audit' }));
  const billing = new Collector(sub(t, perWorker[1]!, { pubsubName: P, topic: tp, subscription: 'billing' }));
  await Promise.all([audit.sub.ready, billing.sub.ready]);
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push((await g.pubsub.Publish({ pubsubName: P, topic: tp, data: Buffer.from(String(i)), dataContentType: 'text/plain' })).messageId);
  await receivedAll([audit], ids);
  await receivedAll([billing], ids);
  t.deepEqual([...audit.messageIds()].sort(), [...ids].sort());
  t.deepEqual([...billing.messageIds()].sort(), [...ids].sort());
  await Promise.all([audit.sub.end(), billing.sub.end()]);
});

test("app other cannot ack or nack demo's deliveries: HEARTH_ERR_UNKNOWN_DELIVERY, and demo's stay pending", async (t) => {
  const tp = uniq('owned');
  await pull(c, tp, { subscription: 'jobs', waitMs: 0, ackDeadlineMs: 1000 });
  const messageId = await publishHttp(c, tp, { job: 1 });
  const mine = (await pull(c, tp, { subscription: 'jobs', ackDeadlineMs: 1000 })).deliveries[0];
  t.is(mine?.messageId, messageId);
  const id = mine?.deliveryId ?? '';

  // The same subscription name in other's namespace holds no such delivery.
  for (const op of ['ack', 'nack'] as const) {
    const res = await otherHttp.post(`/v1.0-hearth/subscriptions/${P}/jobs/${op}`, { deliveryIds: [id] });
    const body = assertHttpError(t, res, 404, 'HEARTH_ERR_UNKNOWN_DELIVERY', `other ${op}`);
    t.deepEqual((body?.details?.failed as { deliveryId: string }[] | undefined)?.map((f) => f.deliveryId), [id]);
  }
  // On gRPC a foreign ack on other's stream is ignored (logged) and the stream goes on.
  const otherStream = sub(t, otherGrpc, { pubsubName: P, topic: uniq('other-topic'), subscription: 'jobs' });
  await otherStream.ready;
  otherStream.ack(id);
  otherStream.nack(id);

  // Demo's delivery was settled by none of that: it comes back to demo after its deadline.
  const again = (await pull(c, tp, { subscription: 'jobs', ackDeadlineMs: 1000, waitMs: 20_000 })).deliveries[0];
  t.is(again?.messageId, messageId);
  t.is(again?.attempt, 2);
  t.is((await c.post(`/v1.0-hearth/subscriptions/${P}/jobs/ack`, { deliveryIds: [again?.deliveryId] })).status, 204);
  t.is((await otherStream.end()).code, grpc.status.OK);
});

test("when both apps have a group on the topic, other's ack of demo's delivery id settles at most other's own copy", async (t) => {
  const tp = uniq('owned-both');
  await pull(c, tp, { subscription: 'jobs', waitMs: 0, ackDeadlineMs: 1000 });
  await pull(otherHttp, tp, { subscription: 'jobs', waitMs: 0 });
  const messageId = await publishHttp(c, tp, { job: 2 });
  const mine = (await pull(c, tp, { subscription: 'jobs', ackDeadlineMs: 1000 })).deliveries[0];
  t.is(mine?.messageId, messageId);
  await otherHttp.post(`/v1.0-hearth/subscriptions/${P}/jobs/ack`, { deliveryIds: [mine?.deliveryId] });
  const again = (await pull(c, tp, { subscription: 'jobs', ackDeadlineMs: 1000, waitMs: 20_000 })).deliveries[0];
  t.is(again?.messageId, messageId, "demo's delivery is still pending");
  t.is((await c.post(`/v1.0-hearth/subscriptions/${P}/jobs/ack`, { deliveryIds: [again?.deliveryId] })).status, 204);
});

test('a subscription group exists from its first subscribe: earlier messages are not kept for it', async (t) => {
  const tp = uniq('late');
  const early = await publishHttp(c, tp, { early: true });
  const s = sub(t, g, { pubsubName: P, topic: tp });
  await s.ready;
  const late = await publishHttp(c, tp, { late: true });
  const d = await s.next();
  t.is(d.messageId, late);
  t.not(d.messageId, early);
  s.ack(d.deliveryId);
  await s.end();
});

test('publish errors are coded on both transports', async (t) => {
  assertHttpError(t, await c.post(`/v1.0/publish/nosuch/${uniq('t')}`, { x: 1 }), 400, 'HEARTH_ERR_STORE_NOT_FOUND', 'unknown pubsub');
  await assertGrpcError(
    t,
    g.pubsub.Publish({ pubsubName: P, topic: uniq('t'), data: Buffer.from('{nope'), dataContentType: 'application/json' }),
    grpc.status.INVALID_ARGUMENT,
    'HEARTH_ERR_INVALID_ARGUMENT',
    'invalid JSON with a JSON content type',
  );
  await assertGrpcError(
    t,
    g.pubsub.Publish({ pubsubName: 'nosuch', topic: uniq('t'), data: Buffer.from('1'), dataContentType: 'text/plain' }),
    grpc.status.INVALID_ARGUMENT,
    'HEARTH_ERR_STORE_NOT_FOUND',
    'unknown pubsub',
  );
  const s = sub(t, g, { pubsubName: 'nosuch', topic: uniq('t') });
  const end = await s.ended;
  t.is(end.code, grpc.status.INVALID_ARGUMENT);
  t.is(end.hearthCode, 'HEARTH_ERR_STORE_NOT_FOUND');
  await waitFor('the agent still serving', async () => ((await c.get('/v1.0/metadata')).status === 200 ? true : undefined));
});
