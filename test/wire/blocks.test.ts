// Every building block over <run>/apps/<id>/wire.sock with the raw frame client: the same
// operations the gRPC tests run, answered with the same messages and codes.
import { writeFile } from 'node:fs/promises';
import test from 'ava';
import { FrameType } from '@hearth/protocol';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import type { Msg, WireTestClient } from '../helpers/wire-test-client.js';

let rt: InProcess<'wire'>;
let demo: WireTestClient;
test.before(async () => {
  rt = await startInProcess({ transports: ['wire'] });
  demo = await rt.connect(rt.demo.wire.socket);
});
test.after.always(async () => {
  await rt?.close();
});

const RT = 'hearth.runtime.v1';
const S = 'statestore';
let topics = 0;
const topic = (): string => `wire-t${++topics}`;

/** A unary call on demo's connection with demo's token; throws on an error Response. */
async function ok<T = Msg>(method: string, request: Msg): Promise<T> {
  const a = await demo.call<T>(`${RT}.${method}`, request, { token: rt.demo.token });
  if (a.code !== undefined) throw new Error(`${method}: ${a.code} ${a.header.errorMessage ?? ''}`);
  return a.message;
}

test('state: save, get with ETag, first-write conflict, delete', async (t) => {
  const [etag] = (await ok<{ etags: string[] }>('State/SaveState', { storeName: S, states: [{ key: 'k1', value: Buffer.from('v1') }] })).etags;
  t.truthy(etag);
  const got = await ok<{ found: boolean; data: Buffer; etag: string }>('State/GetState', { storeName: S, key: 'k1' });
  t.like(got, { found: true, etag });
  t.is(got.data.toString(), 'v1');

  const stale = await demo.call(`${RT}.State/SaveState`, {
    storeName: S,
    states: [{ key: 'k1', value: Buffer.from('v2'), etag: { value: 'not-the-etag' }, options: { concurrency: 'CONCURRENCY_FIRST_WRITE' } }],
  }, { token: rt.demo.token });
  t.true(stale.code === 'HEARTH_ERR_ETAG_MISMATCH' || stale.code === 'HEARTH_ERR_ETAG_INVALID', stale.code);
  t.truthy(stale.header.requestId);

  t.true((await ok<{ deleted: boolean }>('State/DeleteState', { storeName: S, key: 'k1', etag: { value: etag } })).deleted);
  t.false((await ok<{ found: boolean }>('State/GetState', { storeName: S, key: 'k1' })).found);
});

test('state: bulk get and a transaction', async (t) => {
  await ok('State/ExecuteStateTransaction', {
    storeName: S,
    operations: [
      { operationType: 'upsert', request: { key: 'b1', value: Buffer.from('1') } },
      { operationType: 'upsert', request: { key: 'b2', value: Buffer.from('2') } },
    ],
  });
  const { items } = await ok<{ items: { key: string; found: boolean; data: Buffer }[] }>('State/GetBulkState', { storeName: S, keys: ['b1', 'b2', 'b3'] });
  t.deepEqual(
    items.map((i) => [i.key, i.found, i.data.toString()]),
    [['b1', true, '1'], ['b2', true, '2'], ['b3', false, '']],
  );
  const bad = await demo.call(`${RT}.State/ExecuteStateTransaction`, { storeName: S, operations: [{ operationType: 'merge', request: { key: 'x' } }] }, { token: rt.demo.token });
  t.is(bad.code, 'HEARTH_ERR_INVALID_ARGUMENT');
});

test('the request id given in the header is echoed; an unusable one is replaced', async (t) => {
  const given = await demo.call(`${RT}.State/GetState`, { storeName: S, key: 'x' }, { token: rt.demo.token, requestId: 'req-42' });
  t.is(given.header.requestId, 'req-42');
  const replaced = await demo.call(`${RT}.State/GetState`, { storeName: S, key: 'x' }, { token: rt.demo.token, requestId: 'bad id\n' });
  t.not(replaced.header.requestId, 'bad id\n');
  t.truthy(replaced.header.requestId);
});

test('errors carry their details as detail.<name> metadata', async (t) => {
  const a = await demo.call(`${RT}.State/GetState`, { storeName: 'no-such-store', key: 'k' }, { token: rt.demo.token });
  t.is(a.code, 'HEARTH_ERR_STORE_NOT_FOUND');
  t.regex(a.header.errorMessage ?? '', /no-such-store/);
  const bad = await demo.call(`${RT}.State/GetState`, { storeName: S, key: 'bad\u0001key' }, { token: rt.demo.token });
  t.is(bad.code, 'HEARTH_ERR_INVALID_KEY');
  t.true((bad.header.metadata?.['detail.key'] ?? '').startsWith('bad'), JSON.stringify(bad.header.metadata));
});

test('pubsub: publish, subscribe, ack; nack redelivers with the next attempt; End is answered OK', async (t) => {
  const c = await rt.connect(rt.demo.wire.socket);
  const tp = topic();
  const SUB = `${RT}.PubSub/Subscribe`;
  const sid = c.open(SUB, { initial: { pubsubName: 'pubsub', topic: tp, subscription: 'workers' } }, { token: rt.demo.token });
  const ready = await c.streamMessage<{ ready?: { subscription: string } }>(sid, SUB);
  t.is(ready.ready?.subscription, 'workers');

  const { messageId } = await ok<{ messageId: string }>('PubSub/Publish', { pubsubName: 'pubsub', topic: tp, data: Buffer.from('"x"'), dataContentType: 'application/json' });
  type D = { delivery?: { deliveryId: string; messageId: string; attempt: number } };
  const first = (await c.streamMessage<D>(sid, SUB)).delivery!;
  t.is(first.messageId, messageId);
  t.is(first.attempt, 1);
  c.message(sid, SUB, { nack: { deliveryId: first.deliveryId, delayMs: 0 } });
  const second = (await c.streamMessage<D>(sid, SUB)).delivery!;
  t.is(second.messageId, messageId);
  t.is(second.attempt, 2);
  c.message(sid, SUB, { ack: { deliveryId: second.deliveryId } });

  const marker = await ok<{ messageId: string }>('PubSub/Publish', { pubsubName: 'pubsub', topic: tp, data: Buffer.from('"m"'), dataContentType: 'application/json' });
  const next = (await c.streamMessage<D>(sid, SUB)).delivery!;
  t.is(next.messageId, marker.messageId); // the acked message did not come back first
  c.message(sid, SUB, { ack: { deliveryId: next.deliveryId } });

  c.send({ type: FrameType.End, streamId: sid });
  const end = await c.answer(sid, SUB);
  t.is(end.code, undefined);
});

test('pubsub: Cancel hands unacked deliveries back to the group', async (t) => {
  const c = await rt.connect(rt.demo.wire.socket);
  const tp = topic();
  const SUB = `${RT}.PubSub/Subscribe`;
  const initial = { initial: { pubsubName: 'pubsub', topic: tp, subscription: 'handback' } };
  const sid = c.open(SUB, initial, { token: rt.demo.token });
  await c.streamMessage(sid, SUB);
  const { messageId } = await ok<{ messageId: string }>('PubSub/Publish', { pubsubName: 'pubsub', topic: tp, data: Buffer.from('1'), dataContentType: 'text/plain' });
  type D = { delivery?: { deliveryId: string; messageId: string; attempt: number } };
  t.is((await c.streamMessage<D>(sid, SUB)).delivery?.messageId, messageId);
  c.send({ type: FrameType.Cancel, streamId: sid });

  const again = c.open(SUB, initial, { token: rt.demo.token });
  await c.streamMessage(again, SUB);
  const d = (await c.streamMessage<D>(again, SUB)).delivery!;
  t.is(d.messageId, messageId);
  t.is(d.attempt, 2);
  c.message(again, SUB, { ack: { deliveryId: d.deliveryId } });
  c.send({ type: FrameType.End, streamId: again });
  t.is((await c.answer(again, SUB)).code, undefined);
});

test('pubsub: a topic the app may not use is refused on the stream', async (t) => {
  const c = await rt.connect(rt.other.wire.socket);
  const SUB = `${RT}.PubSub/Subscribe`;
  const sid = c.open(SUB, { initial: { pubsubName: 'pubsub', topic: 'not-allowed' } }, { token: rt.other.token });
  t.is((await c.answer(sid, SUB)).code, 'HEARTH_ERR_TOPIC_NOT_ALLOWED');
});

test('configuration: get, then a subscription sends the items and each change', async (t) => {
  const { items } = await ok<{ items: Record<string, { value: string; version: string }> }>('Configuration/GetConfiguration', { storeName: 'appconfig', keys: ['feature'] });
  t.like(items.feature, { value: 'on', version: '7' });

  const c = await rt.connect(rt.demo.wire.socket);
  const M = `${RT}.Configuration/SubscribeConfiguration`;
  const sid = c.open(M, { storeName: 'appconfig', keys: ['greeting'] }, { token: rt.demo.token });
  type Change = { id: string; items: Record<string, { value: string }> };
  const initial = await c.streamMessage<Change>(sid, M);
  t.truthy(initial.id);
  t.is(initial.items.greeting?.value, 'hello');
  await writeFile(rt.configurationFile, 'greeting: bonjour\nfeature:\n  value: "on"\n  version: "7"\n');
  let latest = initial;
  while (latest.items.greeting?.value !== 'bonjour') latest = await c.streamMessage<Change>(sid, M);
  t.is(latest.items.greeting?.value, 'bonjour');
  c.send({ type: FrameType.End, streamId: sid });
  t.is((await c.answer(sid, M)).code, undefined);
});

test('lock and sequencer', async (t) => {
  const L = 'lockstore';
  t.true((await ok<{ success: boolean }>('Lock/TryLock', { storeName: L, resourceId: 'r', lockOwner: 'w1', expiryInSeconds: 10 })).success);
  t.false((await ok<{ success: boolean }>('Lock/TryLock', { storeName: L, resourceId: 'r', lockOwner: 'w2', expiryInSeconds: 10 })).success);
  t.true((await ok<{ success: boolean }>('Lock/KeepAlive', { storeName: L, resourceId: 'r', lockOwner: 'w1', expiryInSeconds: 10 })).success);
  t.is((await ok<{ status: string }>('Lock/Unlock', { storeName: L, resourceId: 'r', lockOwner: 'w2' })).status, 'LOCK_BELONGS_TO_OTHERS');
  t.is((await ok<{ status: string }>('Lock/Unlock', { storeName: L, resourceId: 'r', lockOwner: 'w1' })).status, 'SUCCESS');

  const a = BigInt((await ok<{ nextId: string }>('Sequencer/GetNextId', { storeName: 'sequencer', key: 'ids' })).nextId);
  const b = BigInt((await ok<{ nextId: string }>('Sequencer/GetNextId', { storeName: 'sequencer', key: 'ids' })).nextId);
  t.true(b > a);
});

test('metadata names the app and the generation', async (t) => {
  const m = await ok<{ appId: string; generation: number; components: { name: string }[] }>('Metadata/GetMetadata', {});
  t.is(m.appId, 'demo');
  t.is(m.generation, 3);
  t.true(m.components.some((c) => c.name === S));
});

test('many calls multiplexed on one connection are all answered on their own streams', async (t) => {
  const ids = Array.from({ length: 20 }, (_, i) => demo.open(`${RT}.State/SaveState`, { storeName: S, states: [{ key: `m${i}`, value: Buffer.from(String(i)) }] }, { token: rt.demo.token }));
  const answers = await Promise.all(ids.map((id) => demo.answer(id, `${RT}.State/SaveState`)));
  t.true(answers.every((a) => a.code === undefined));
  const got = await ok<{ data: Buffer }>('State/GetState', { storeName: S, key: 'm7' });
  t.is(got.data.toString(), '7');
});

test('Ping is answered with a Pong carrying the same body', async (t) => {
  demo.send({ type: FrameType.Ping, streamId: 0, body: Buffer.from('hello') });
  const pong = await demo.next((f) => f.type === FrameType.Pong);
  t.is(pong.body.toString(), 'hello');
  t.is(pong.flags, 0);
});

test('calls are counted under transport "wire" with the gRPC metrics names', async (t) => {
  await ok('State/GetState', { storeName: S, key: 'counted' });
  const text = await rt.metrics.registry.metrics();
  t.regex(text, /hearth_requests_total\{[^}]*app="demo"[^}]*api="state.get"[^}]*transport="wire"[^}]*code="OK"/);
});
