// Publish (Dapr-compatible) and the Hearth-only pull subscription: pull, ack, nack, redelivery.
import { randomUUID } from 'node:crypto';
import anyTest, { type TestFn } from 'ava';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import type { CloudEvent, PullResult } from '../helpers/pubsub-wire.js';

const test = anyTest as TestFn<{ h: InProcess<'http'> }>;

test.before(async (t) => {
  t.context.h = await startInProcess({ transports: ['http'] });
});
test.after.always(async (t) => {
  await t.context.h?.close();
});

const uniq = (p: string): string => `${p}-${randomUUID().slice(0, 8)}`;

/** Registers the subscription (a pull with waitMs 0) so later publishes are kept for it. */
async function register(h: InProcess<'http'>, topic: string, body: Record<string, unknown> = {}): Promise<void> {
  const res = await h.demo.http.client.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/pull`, { waitMs: 0, ...body });
  if (res.status !== 200) throw new Error(`register failed: ${res.status} ${res.text()}`);
}

async function pull(h: InProcess<'http'>, topic: string, body: Record<string, unknown> = {}): Promise<PullResult> {
  const res = await h.demo.http.client.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/pull`, { max: 10, waitMs: 10_000, ...body });
  if (res.status !== 200) throw new Error(`pull failed: ${res.status} ${res.text()}`);
  return res.json<PullResult>();
}

test('publish JSON (204) arrives as a CloudEvent with the data inline', async (t) => {
  const { h } = t.context;
  const topic = uniq('orders');
  await register(h, topic);
  const res = await h.demo.http.client.post(`/v1.0/publish/pubsub/${topic}`, { orderId: 7 }, { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
  t.is(res.status, 204);
  t.truthy(res.headers['hearth-message-id']);

  const got = await pull(h, topic);
  t.is(got.subscription, topic);
  t.is(got.deliveries.length, 1);
  const d = got.deliveries[0]!;
  t.is(d.topic, topic);
  t.is(d.attempt, 1);
  t.regex(d.contentType, /cloudevents\+json/);
  const ce = d.data as CloudEvent;
  t.is(ce.specversion, '1.0');
  t.deepEqual(ce.data, { orderId: 7 });
  t.is(ce.topic, topic);
  t.is(ce.pubsubname, 'pubsub');
  t.is(ce.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  t.is((await h.demo.http.client.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/ack`, { deliveryIds: [d.deliveryId] })).status, 204);
});

test('text/plain and binary payloads keep their content type', async (t) => {
  const { h } = t.context;
  const topic = uniq('text');
  await register(h, topic);
  await h.demo.http.client.post(`/v1.0/publish/pubsub/${topic}`, 'hello world', { headers: { 'content-type': 'text/plain' } });
  const got = await pull(h, topic);
  const ce = got.deliveries[0]!.data as CloudEvent;
  t.is(ce.datacontenttype, 'text/plain');
  t.is(ce.data, 'hello world');

  const bin = Buffer.from([0, 1, 2, 250, 255]);
  await h.demo.http.client.post(`/v1.0/publish/pubsub/${topic}`, bin, { headers: { 'content-type': 'application/octet-stream' }});
  const got2 = await pull(h, topic);
  const d2 = got2.deliveries.find((d) => d.deliveryId !== got.deliveries[0]!.deliveryId)!;
  const ce2 = d2.data as CloudEvent;
  t.is(ce2.datacontenttype, 'application/octet-stream');
  t.is(Buffer.from(ce2.data_base64 ?? '', 'base64').toString('hex'), bin.toString('hex'));
});

test('metadata.rawPayload=true publishes the bytes as they are (base64 when not JSON)', async (t) => {
  const { h } = t.context;
  const topic = uniq('raw');
  await register(h, topic);
  const bin = Buffer.from('raw-bytes\u0000\u0001');
  const res = await h.demo.http.client.post(`/v1.0/publish/pubsub/${topic}?metadata.rawPayload=true&metadata.custom=x`, bin, {
    headers: { 'content-type': 'application/octet-stream' },
  });
  t.is(res.status, 204);
  const d = (await pull(h, topic)).deliveries[0]!;
  t.is(d.contentType, 'application/octet-stream');
  t.is(d.data, undefined);
  t.is(Buffer.from(d.dataBase64 ?? '', 'base64').toString('hex'), bin.toString('hex'));
  t.is(d.metadata.custom, 'x');

  await h.demo.http.client.post(`/v1.0/publish/pubsub/${topic}?metadata.rawPayload=true`, { plain: true });
  const d2 = (await pull(h, topic)).deliveries.find((x) => x.contentType === 'application/json')!;
  t.deepEqual(d2.data, { plain: true });
});

test('a CloudEvent published as application/cloudevents+json is delivered', async (t) => {
  const { h } = t.context;
  const topic = uniq('ce');
  await register(h, topic);
  const event = { specversion: '1.0', id: 'evt-1', source: 'test', type: 'com.example.ping', datacontenttype: 'application/json', data: { ping: 1 } };
  const res = await h.demo.http.client.post(`/v1.0/publish/pubsub/${topic}`, JSON.stringify(event), {
    headers: { 'content-type': 'application/cloudevents+json' },
  });
  t.is(res.status, 204);
  const d = (await pull(h, topic)).deliveries[0]!;
  t.regex(d.contentType, /cloudevents\+json/);
  const ce = d.data as CloudEvent;
  t.is(ce.type, 'com.example.ping');
  t.deepEqual(ce.data, { ping: 1 });
});

test('nack redelivers with attempt 2; ack removes the message', async (t) => {
  const { h } = t.context;
  const topic = uniq('nack');
  await register(h, topic);
  await h.demo.http.client.post(`/v1.0/publish/pubsub/${topic}`, { n: 1 });
  const first = (await pull(h, topic)).deliveries[0]!;
  t.is(first.attempt, 1);
  t.is((await h.demo.http.client.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/nack`, { deliveryIds: [first.deliveryId], delayMs: 0 })).status, 204);

  const again = (await pull(h, topic)).deliveries[0]!;
  t.is(again.messageId, first.messageId);
  t.is(again.attempt, 2);
  t.is((await h.demo.http.client.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/ack`, { deliveryIds: [again.deliveryId] })).status, 204);

  const empty = await pull(h, topic, { waitMs: 200 });
  t.is(empty.deliveries.length, 0);
});

test('an unacked delivery comes back after its ack deadline', async (t) => {
  const { h } = t.context;
  const topic = uniq('deadline');
  await register(h, topic, { ackDeadlineMs: 300 });
  await h.demo.http.client.post(`/v1.0/publish/pubsub/${topic}`, { n: 2 });
  const first = (await pull(h, topic, { ackDeadlineMs: 300 })).deliveries[0]!;
  t.is(first.attempt, 1);
  // Not acked: after 300 ms it is redelivered (the pull waits for it).
  const again = (await pull(h, topic, { ackDeadlineMs: 300, waitMs: 20_000 })).deliveries[0]!;
  t.is(again.messageId, first.messageId);
  t.is(again.attempt, 2);
  await h.demo.http.client.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/ack`, { deliveryIds: [again.deliveryId] });
});

test('a named subscription is its own consumer group; max bounds one pull', async (t) => {
  const { h } = t.context;
  const topic = uniq('groups');
  await register(h, topic, { subscription: 'g1' });
  await register(h, topic, { subscription: 'g2' });
  for (let i = 0; i < 3; i++) await h.demo.http.client.post(`/v1.0/publish/pubsub/${topic}`, { i });
  const g1 = await pull(h, topic, { subscription: 'g1', max: 2 });
  t.is(g1.subscription, 'g1');
  t.is(g1.deliveries.length, 2);
  const g2 = await pull(h, topic, { subscription: 'g2', max: 10 });
  t.true(g2.deliveries.length >= 1);
  const ack = await h.demo.http.client.post(`/v1.0-hearth/subscriptions/pubsub/g1/ack`, { deliveryIds: g1.deliveries.map((d) => d.deliveryId) });
  t.is(ack.status, 204);
});

test('ack with an unknown id: the others are still acked and the first failure is returned', async (t) => {
  const { h } = t.context;
  const topic = uniq('partial');
  await register(h, topic);
  await h.demo.http.client.post(`/v1.0/publish/pubsub/${topic}`, { n: 3 });
  const d = (await pull(h, topic)).deliveries[0]!;
  const res = await h.demo.http.client.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/ack`, { deliveryIds: ['no-such-delivery', d.deliveryId] });
  t.is(res.status, 404);
  const body = res.json<{ errorCode: string; details: { failed: { deliveryId: string; errorCode: string }[] } }>();
  t.is(body.errorCode, 'HEARTH_ERR_UNKNOWN_DELIVERY');
  t.deepEqual(body.details.failed.map((f) => f.deliveryId), ['no-such-delivery']);
  // The valid one was acked: nothing comes back.
  t.is((await pull(h, topic, { waitMs: 200 })).deliveries.length, 0);
});

test('pull with an empty body uses the defaults', async (t) => {
  const { h } = t.context;
  const topic = uniq('empty');
  const res = await h.demo.http.client.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/pull`);
  t.is(res.status, 200);
  t.deepEqual(res.json(), { subscription: topic, deliveries: [] });
});
