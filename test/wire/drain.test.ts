// Graceful close of the wire servers: Goaway HEARTH_ERR_DRAINING naming the last accepted stream,
// a unary call in flight completes, subscriptions end with HEARTH_ERR_SUBSCRIPTION_CLOSED, callback
// streams with HEARTH_ERR_DRAINING, Pongs carry the DRAINING flag, later Requests are not
// processed, and the connection closes once idle.
import test from 'ava';
import { FrameType, PONG_DRAINING } from '@hearth/protocol';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { WireTestClient } from '../helpers/wire-test-client.js';

let rt: InProcess<'wire'>;
test.before(async () => {
  rt = await startInProcess({ transports: ['wire'] });
});
test.after.always(async () => {
  await rt?.close();
});

const INVOKE = 'hearth.runtime.v1.Invoke/InvokeService';
const CONNECT = 'hearth.runtime.v1.AppCallback/Connect';
const SUB = 'hearth.runtime.v1.PubSub/Subscribe';
const CONFIG = 'hearth.runtime.v1.Configuration/SubscribeConfiguration';

test.serial('close(): Goaway, the call in flight completes, streams end with their codes, then the connection closes', async (t) => {
  // `other` serves invocations on its own wire.sock (another server, not draining).
  const callee = await rt.connect(rt.other.wire.socket);
  const cb = callee.open(CONNECT, { register: { methods: [], maxConcurrency: 0 } }, { token: rt.other.token });
  await callee.streamMessage(cb, CONNECT);

  const c = await rt.connect(rt.demo.wire.socket);
  const auth = { token: rt.demo.token };
  const sub = c.open(SUB, { initial: { pubsubName: 'pubsub', topic: 'drain-topic' } }, auth);
  await c.streamMessage(sub, SUB);
  const config = c.open(CONFIG, { storeName: 'appconfig', keys: [] }, auth);
  await c.streamMessage(config, CONFIG);
  const inFlight = c.open(INVOKE, { appId: 'other', method: 'slow', data: Buffer.from('x') }, auth);
  const invocation = await callee.streamMessage<{ invocation?: { id: string } }>(cb, CONNECT);

  const closing = rt.demo.wire.server.close(10_000);
  const goaway = await c.goaway();
  t.is(goaway.header.errorCode, 'HEARTH_ERR_DRAINING');
  t.is(goaway.streamId, inFlight);
  t.is((await c.answer(sub, SUB)).code, 'HEARTH_ERR_SUBSCRIPTION_CLOSED');
  t.is((await c.answer(config, CONFIG)).code, 'HEARTH_ERR_SUBSCRIPTION_CLOSED');

  c.send({ type: FrameType.Ping, streamId: 0, body: Buffer.from('p') });
  const pong = await c.next((f) => f.type === FrameType.Pong);
  t.is(pong.flags & PONG_DRAINING, PONG_DRAINING);
  const late = c.open('hearth.runtime.v1.State/GetState', { storeName: 'statestore', key: 'k' }, auth);
  t.is((await c.answer(late, 'hearth.runtime.v1.State/GetState')).code, 'HEARTH_ERR_DRAINING');
  t.false(c.isClosed);

  // The callee answers: the call accepted before the Goaway completes normally.
  callee.message(cb, CONNECT, { result: { id: invocation.invocation!.id, data: Buffer.from('done') } });
  const answer = await c.answer<{ data: Buffer }>(inFlight, INVOKE);
  t.is(answer.code, undefined);
  t.is(answer.message.data.toString(), 'done');
  await c.closed;
  await closing;
  t.is(rt.demo.wire.server.connections(), 0);
  await t.throwsAsync(WireTestClient.unix(rt.demo.wire.socket));
});

test.serial('close(): a callback stream ends with HEARTH_ERR_DRAINING', async (t) => {
  const callee = await rt.connect(rt.other.wire.socket);
  const cb = callee.open(CONNECT, { register: { methods: [], maxConcurrency: 0 } }, { token: rt.other.token });
  await callee.streamMessage(cb, CONNECT);
  const closing = rt.other.wire.server.close(10_000);
  t.is((await callee.goaway()).header.errorCode, 'HEARTH_ERR_DRAINING');
  t.is((await callee.answer(cb, CONNECT)).code, 'HEARTH_ERR_DRAINING');
  await callee.closed;
  await closing;
});

test.serial('close(): a connection still busy after the grace time is destroyed', async (t) => {
  // Both servers were closed by the tests above: the next generation's.
  const demoServer = await rt.startServer('demo', 'wire');
  const otherServer = await rt.startServer('other', 'wire');
  const callee = await rt.connect(rt.other.wire.socket);
  const cb = callee.open(CONNECT, { register: { methods: [], maxConcurrency: 0 } }, { token: rt.other.token });
  await callee.streamMessage(cb, CONNECT);
  const c = await rt.connect(rt.demo.wire.socket);
  // The callee never answers: the call stays in flight through the whole grace time.
  const stuck = c.open(INVOKE, { appId: 'other', method: 'never', data: Buffer.alloc(0) }, { token: rt.demo.token });
  await callee.streamMessage(cb, CONNECT);
  await demoServer.close(300);
  t.is(demoServer.connections(), 0);
  await c.closed;
  await t.throwsAsync(c.nextOn(stuck, FrameType.Response));
  await otherServer.close(1000);
});
