import { randomUUID } from 'node:crypto';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { callError } from '../helpers/grpc-client.js';
import { RawSubscribeStream } from '../helpers/raw-grpc-stream.js';
import { subscribe, TestSubscription } from '../helpers/grpc-subscription.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';
import type { CloudEvent } from '../helpers/pubsub-wire.js';

let rt: InProcess<'grpc'>;
test.before(async () => {
  rt = await startInProcess({ transports: ['grpc'] });
});
test.after.always(async () => {
  await rt?.close();
});

const P = 'pubsub';
const topic = (): string => `t-${randomUUID().slice(0, 8)}`;

test('publish wraps JSON in a CloudEvents 1.0 envelope; ready comes first', async (t) => {
  const tp = topic();
  const sub = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: tp });
  t.is(await sub.ready, tp); // the subscription defaults to the topic
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const { messageId } = await rt.demo.grpc.clients.pubsub.Publish({
    pubsubName: P,
    topic: tp,
    data: Buffer.from(JSON.stringify({ order: 42 })),
    dataContentType: 'application/json',
    metadata: { traceparent, 'cloudevent.type': 'com.example.order' },
  });
  const d = await sub.next();
  t.is(d.messageId, messageId);
  t.is(d.topic, tp);
  t.is(d.pubsubName, P);
  t.is(d.attempt, 1);
  t.is(d.dataContentType, 'application/cloudevents+json');
  const ce = JSON.parse(d.data.toString()) as CloudEvent;
  t.is(ce.specversion, '1.0');
  t.regex(ce.id, /^[0-9a-f-]{36}$/);
  t.is(ce.source, 'demo');
  t.is(ce.type, 'com.example.order');
  t.is(ce.topic, tp);
  t.is(ce.pubsubname, P);
  t.false(Number.isNaN(Date.parse(ce.time)));
  t.is(ce.datacontenttype, 'application/json');
  t.deepEqual(ce.data, { order: 42 });
  t.is(ce.traceparent, traceparent);
  sub.ack(d.deliveryId);
  await sub.end();
});

test('text becomes a string, other types data_base64; rawPayload is kept as is', async (t) => {
  const tp = topic();
  const sub = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: tp });
  await sub.ready;
  const pub = (data: Buffer, dataContentType: string, metadata: Record<string, string> = {}): Promise<unknown> =>
    rt.demo.grpc.clients.pubsub.Publish({ pubsubName: P, topic: tp, data, dataContentType, metadata });
  await pub(Buffer.from('hello'), 'text/plain');
  await pub(Buffer.from([0, 1, 2, 255]), '');
  await pub(Buffer.from('<raw/>'), 'application/xml', { rawPayload: 'true' });

  const text = await sub.next();
  const textEvent = JSON.parse(text.data.toString()) as CloudEvent;
  t.is(textEvent.data, 'hello');
  t.is(textEvent.type, 'com.hearth.event');
  t.is(textEvent.traceparent, undefined);

  const bin = JSON.parse((await sub.next()).data.toString()) as CloudEvent;
  t.is(bin.datacontenttype, 'application/octet-stream');
  t.is(bin.data_base64, Buffer.from([0, 1, 2, 255]).toString('base64'));
  t.is(bin.data, undefined);

  const raw = await sub.next();
  t.is(raw.data.toString(), '<raw/>');
  t.is(raw.dataContentType, 'application/xml');
  for (const d of [text, raw]) sub.ack(d.deliveryId);
  await sub.end();
});

test('invalid JSON with a JSON content type is INVALID_ARGUMENT', async (t) => {
  const e = callError(
    await t.throwsAsync(
      rt.demo.grpc.clients.pubsub.Publish({ pubsubName: P, topic: topic(), data: Buffer.from('{nope'), dataContentType: 'application/json' }),
    ),
  );
  t.is(e.code, grpc.status.INVALID_ARGUMENT);
  t.is(e.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT');
});

test('nack redelivers with the next attempt; an acked message does not come back', async (t) => {
  const tp = topic();
  const sub = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: tp, subscription: 'workers' });
  t.is(await sub.ready, 'workers');
  const { messageId } = await rt.demo.grpc.clients.pubsub.Publish({ pubsubName: P, topic: tp, data: Buffer.from('"x"'), dataContentType: 'application/json' });
  const first = await sub.next();
  t.is(first.attempt, 1);
  sub.nack(first.deliveryId);
  const second = await sub.next();
  t.is(second.messageId, messageId);
  t.is(second.attempt, 2);
  sub.ack(second.deliveryId);
  // A later marker arrives next: the acked message was not redelivered before it.
  const marker = await rt.demo.grpc.clients.pubsub.Publish({ pubsubName: P, topic: tp, data: Buffer.from('"m"'), dataContentType: 'application/json' });
  const next = await sub.next();
  t.is(next.messageId, marker.messageId);
  sub.ack(next.deliveryId);
  await sub.end();
});

test('an unacked delivery is redelivered after the ack deadline', async (t) => {
  const tp = topic();
  const sub = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: tp, ackDeadlineMs: 200 });
  await sub.ready;
  const { messageId } = await rt.demo.grpc.clients.pubsub.Publish({ pubsubName: P, topic: tp, data: Buffer.from('1'), dataContentType: 'text/plain' });
  const first = await sub.next();
  const again = await sub.next();
  t.is(again.messageId, messageId);
  t.true(again.attempt > first.attempt);
  sub.ack(again.deliveryId);
  await sub.end();
});

test('cancelling a stream hands unacked deliveries back to the group', async (t) => {
  const tp = topic();
  const sub = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: tp, subscription: 'handback' });
  await sub.ready;
  const { messageId } = await rt.demo.grpc.clients.pubsub.Publish({ pubsubName: P, topic: tp, data: Buffer.from('1'), dataContentType: 'text/plain' });
  t.is((await sub.next()).messageId, messageId);
  sub.cancel();
  t.is((await sub.ended).code, grpc.status.CANCELLED);

  const resumed = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: tp, subscription: 'handback' });
  await resumed.ready;
  const d = await resumed.next();
  t.is(d.messageId, messageId);
  t.is(d.attempt, 2);
  resumed.ack(d.deliveryId);
  t.is((await resumed.end()).code, grpc.status.OK);
});

test('after maxDeliveryAttempts the message goes to <topic>.dead-letter', async (t) => {
  const tp = topic();
  const dlq = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: `${tp}.dead-letter` });
  await dlq.ready;
  const sub = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: tp, maxDeliveryAttempts: 2 });
  await sub.ready;
  const { messageId } = await rt.demo.grpc.clients.pubsub.Publish({ pubsubName: P, topic: tp, data: Buffer.from('poison'), dataContentType: 'text/plain' });
  for (let attempt = 1; attempt <= 2; attempt++) {
    const d = await sub.next();
    t.is(d.attempt, attempt);
    sub.nack(d.deliveryId);
  }
  const dead = await dlq.next();
  t.is(dead.topic, `${tp}.dead-letter`);
  t.is(dead.metadata['hearth.deadletter.original-message-id'], messageId);
  t.is(dead.metadata['hearth.deadletter.original-topic'], tp);
  t.is((JSON.parse(dead.data.toString()) as CloudEvent).data, 'poison');
  dlq.ack(dead.deliveryId);
  await Promise.all([sub.end(), dlq.end()]);
});

test('an ack of an unknown delivery is ignored and the stream keeps serving', async (t) => {
  const tp = topic();
  const sub = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: tp });
  await sub.ready;
  sub.ack('999999');
  sub.ack('not-a-delivery');
  sub.nack('');
  const { messageId } = await rt.demo.grpc.clients.pubsub.Publish({ pubsubName: P, topic: tp, data: Buffer.from('ok'), dataContentType: 'text/plain' });
  const d = await sub.next();
  t.is(d.messageId, messageId);
  sub.ack(d.deliveryId);
  t.is((await sub.end()).code, grpc.status.OK);
  t.regex(rt.logText(), /ack\/nack ignored/);
});

test('the first message must be initial; initial only once', async (t) => {
  const noInitial = new TestSubscription(rt.demo.grpc.clients, null);
  noInitial.ack('1');
  const e = await noInitial.ended;
  t.is(e.code, grpc.status.INVALID_ARGUMENT);
  t.is(e.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT');

  const twice = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: topic() });
  await twice.ready;
  twice.stream.write({ initial: { pubsubName: P, topic: 'again' } });
  const end = await twice.ended;
  t.is(end.code, grpc.status.INVALID_ARGUMENT);
  t.is(end.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT');
});

test('each app has its own consumer group, whatever the subscription name', async (t) => {
  const demoSub = subscribe(rt.demo.grpc.clients, { pubsubName: P, topic: 'orders', subscription: 'orders' });
  const otherSub = subscribe(rt.other.grpc.clients, { pubsubName: P, topic: 'orders', subscription: 'orders' });
  await Promise.all([demoSub.ready, otherSub.ready]);
  const { messageId } = await rt.other.grpc.clients.pubsub.Publish({ pubsubName: P, topic: 'orders', data: Buffer.from('o'), dataContentType: 'text/plain' });
  const [a, b] = await Promise.all([
    demoSub.nextMatching((d) => d.messageId === messageId),
    otherSub.nextMatching((d) => d.messageId === messageId),
  ]);
  t.is((JSON.parse(a.data.toString()) as CloudEvent).source, 'other');
  t.is(a.messageId, b.messageId);
  demoSub.ack(a.deliveryId);
  otherSub.ack(b.deliveryId);
  await Promise.all([demoSub.end(), otherSub.end()]);
});

test('topics outside the ACL are refused for publish and subscribe', async (t) => {
  const pub = callError(
    await t.throwsAsync(rt.other.grpc.clients.pubsub.Publish({ pubsubName: P, topic: 'secret', data: Buffer.from('x'), dataContentType: 'text/plain' })),
  );
  t.is(pub.code, grpc.status.PERMISSION_DENIED);
  t.is(pub.hearthCode, 'HEARTH_ERR_TOPIC_NOT_ALLOWED');

  const sub = subscribe(rt.other.grpc.clients, { pubsubName: P, topic: 'secret' });
  const end = await sub.ended;
  t.is(end.code, grpc.status.PERMISSION_DENIED);
  t.is(end.hearthCode, 'HEARTH_ERR_TOPIC_NOT_ALLOWED');
  await t.throwsAsync(sub.ready);

  // A custom dead-letter topic is a topic too.
  const dl = subscribe(rt.other.grpc.clients, { pubsubName: P, topic: 'other.x', deadLetterTopic: 'secret' });
  t.is((await dl.ended).hearthCode, 'HEARTH_ERR_TOPIC_NOT_ALLOWED');
});

test('subscribe validates its settings and the subscription name', async (t) => {
  const bad = [
    { pubsubName: P, topic: topic(), subscription: 'a||b' },
    { pubsubName: P, topic: topic(), ackDeadlineMs: 5 },
    { pubsubName: 'nope', topic: topic() },
  ];
  const codes = await Promise.all(bad.map(async (initial) => (await subscribe(rt.demo.grpc.clients, initial).ended).hearthCode));
  t.deepEqual(codes, ['HEARTH_ERR_INVALID_KEY', 'HEARTH_ERR_INVALID_ARGUMENT', 'HEARTH_ERR_STORE_NOT_FOUND']);
});

test('a client that stops reading loses nothing: deliveries wait and flow again on resume', async (t) => {
  // grpc-js clients keep reading HTTP/2 frames even when paused, so a raw HTTP/2 client is used:
  // while it does not read, flow control stops the server's writes and write() returns false.
  const tp = topic();
  const sub = await RawSubscribeStream.open(rt.demo.grpc.socket, rt.demo.token, { pubsubName: P, topic: tp, maxInFlight: 100 });
  t.teardown(() => sub.close());
  t.is((await sub.next()).ready?.subscription, tp);
  sub.pause();
  const big = Buffer.alloc(256 * 1024, 'a');
  const published = new Set<string>();
  for (let i = 0; i < 24; i++) {
    const { messageId } = await rt.demo.grpc.clients.pubsub.Publish({ pubsubName: P, topic: tp, data: big, dataContentType: 'application/octet-stream' });
    published.add(messageId);
  }
  // The server saw write() return false (the path under test) and waits for drain.
  await waitFor('the server to wait for drain', () => rt.logText().includes('deliveries wait for drain'), { timeoutMs: Infinity, everyMs: 20 });
  sub.resume();
  const received = new Set<string>();
  while (received.size < published.size) {
    const d = (await sub.next()).delivery;
    if (!d) continue;
    received.add(d.messageId);
    sub.send({ ack: { deliveryId: d.deliveryId } });
  }
  t.deepEqual([...received].sort(), [...published].sort());
});
