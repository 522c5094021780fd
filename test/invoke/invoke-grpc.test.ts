// Service invocation over gRPC on one in-process agent: app `demo` (A) calls app `b`, whose
// instances hold AppCallback streams on b's own grpc.sock. Real grpc-js clients on both ends.
import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { CallbackApp, failure, InvokeClient, type Answer, type InvocationMsg } from '../helpers/callback-client.js';

import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';

const B_TOKEN = 'b-token-0123456789abcdef';
const C_TOKEN = 'c-token-0123456789abcdef';
const IDLE_TOKEN = 'idle-token-0123456789abc';
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

let rt: InProcess<'grpc'>;
let a: InvokeClient;
const apps: CallbackApp[] = [];
const clients: InvokeClient[] = [];

test.before(async () => {
  rt = await startInProcess({
    transports: ['grpc'],
    apps: [
      { id: 'b', token: B_TOKEN, allow: { callers: ['demo'] } },
      { id: 'c', token: C_TOKEN, allow: { apps: ['*'] } },
      { id: 'idle', token: IDLE_TOKEN },
    ],
  });
  a = client(rt.demo.grpc.socket, rt.demo.token);
});
test.after.always(async () => {
  for (const app of apps) app.close();
  for (const c of clients) c.close();
  await rt?.close();
});

function client(socket: string, token: string | undefined): InvokeClient {
  const c = new InvokeClient(socket, token);
  clients.push(c);
  return c;
}

/** An instance of b for one test: the agent has let go of it when the test ends, failed or not. */
async function instanceOfB(t: ExecutionContext, handler: (inv: InvocationMsg) => Answer | Promise<Answer>): Promise<CallbackApp> {
  const app = await CallbackApp.connect(rt.byId.b!.grpc.socket, B_TOKEN, handler);
  apps.push(app);
  t.teardown(() => stop(app));
  return app;
}

/** Closes an instance and waits until the agent has let go of it, so the next test cannot reach it. */
async function stop(app: CallbackApp): Promise<void> {
  app.close();
  if (app.instanceId === '') return; // never registered
  await waitFor('the agent to drop the instance', () => !rt.callbacks.instances('b').some((i) => i.id === app.instanceId), { timeoutMs: 10_000, everyMs: 10 });
}

/** A handler that answers only when the test says so. */
function held(): { handler: (inv: InvocationMsg) => Promise<Answer>; release: (answer: Answer) => void } {
  const waiting: ((answer: Answer) => void)[] = [];
  return {
    handler: () => new Promise<Answer>((resolve) => waiting.push(resolve)),
    release: (answer) => waiting.splice(0).forEach((r) => r(answer)),
  };
}

test.serial('A invokes B and gets its answer; B sees the method, data, metadata, caller, deadline and trace context', async (t) => {
  const b = await instanceOfB(t, (inv) => ({
    data: Buffer.concat([Buffer.from('echo:'), inv.data]),
    contentType: 'text/plain',
    metadata: { served: 'yes', method: inv.method },
  }));
  t.truthy(b.instanceId);
  const res = await a.invoke(
    { appId: 'b', method: 'orders/42/ship', data: Buffer.from('hi'), contentType: 'text/plain', metadata: { tenant: 't1' } },
    { timeoutMs: 5000, headers: { traceparent: TRACEPARENT } },
  );
  t.is(res.data.toString(), 'echo:hi');
  t.is(res.contentType, 'text/plain');
  t.deepEqual(res.metadata, { served: 'yes', method: 'orders/42/ship' });

  const inv = b.received[0]!;
  t.is(inv.method, 'orders/42/ship');
  t.is(inv.callerAppId, 'demo');
  t.is(inv.contentType, 'text/plain');
  t.deepEqual(inv.metadata, { tenant: 't1' });
  t.is(inv.traceparent, TRACEPARENT);
  t.true(inv.deadlineMs > 0 && inv.deadlineMs <= 5000, `deadlineMs ${inv.deadlineMs}`);
  await stop(b);
});

test.serial('without a deadline of its own a call gets the target policy timeout', async (t) => {
  const b = await instanceOfB(t, () => ({ data: Buffer.from('ok') }));
  await a.invoke({ appId: 'b', method: 'm', data: Buffer.alloc(0) });
  const inv = b.received[0]!;
  t.true(inv.deadlineMs > 0 && inv.deadlineMs <= 30_000, `deadlineMs ${inv.deadlineMs}`);
  await stop(b);
});

test.serial('a caller whose allow.apps lacks the target is refused with PERMISSION_DENIED and B sees nothing', async (t) => {
  const b = await instanceOfB(t, () => ({ data: Buffer.from('no') }));
  const other = client(rt.other.grpc.socket, rt.other.token);
  const err = await failure(other.invoke({ appId: 'b', method: 'm', data: Buffer.alloc(0) }));
  t.is(err.code, grpc.status.PERMISSION_DENIED);
  t.is(err.hearthCode, 'HEARTH_ERR_PERMISSION_DENIED');
  t.is(b.received.length, 0);
  await stop(b);
});

test.serial('a caller outside the target allow.callers is refused with PERMISSION_DENIED and B sees nothing', async (t) => {
  const b = await instanceOfB(t, () => ({ data: Buffer.from('no') }));
  const c = client(rt.byId.c!.grpc.socket, C_TOKEN);
  const err = await failure(c.invoke({ appId: 'b', method: 'm', data: Buffer.alloc(0) }));
  t.is(err.hearthCode, 'HEARTH_ERR_PERMISSION_DENIED');
  t.is(b.received.length, 0);
  await stop(b);
});

test.serial('a wrong token is refused with UNAUTHENTICATED on Invoke and on AppCallback', async (t) => {
  const wrong = client(rt.demo.grpc.socket, 'not-the-token');
  const err = await failure(wrong.invoke({ appId: 'b', method: 'm', data: Buffer.alloc(0) }));
  t.is(err.code, grpc.status.UNAUTHENTICATED);
  t.is(err.hearthCode, 'HEARTH_ERR_UNAUTHENTICATED');
  // Another app's token on b's socket: b's callback stream cannot be opened as b.
  const impostor = await CallbackApp.connect(rt.byId.b!.grpc.socket, rt.demo.token, () => ({}));
  apps.push(impostor);
  const ended = await impostor.ended;
  t.is(ended?.hearthCode, 'HEARTH_ERR_UNAUTHENTICATED');
  t.is(impostor.instanceId, '');
});

test.serial('a target with no callback stream: APP_UNAVAILABLE', async (t) => {
  const err = await failure(a.invoke({ appId: 'idle', method: 'm', data: Buffer.alloc(0) }));
  t.is(err.code, grpc.status.UNAVAILABLE);
  t.is(err.hearthCode, 'HEARTH_ERR_APP_UNAVAILABLE');
});

test.serial('B handler error reaches A as APP_ERROR carrying the app code', async (t) => {
  const b = await instanceOfB(t, () => ({ error: { code: 'OUT_OF_STOCK', message: 'no more widgets' } }));
  const err = await failure(a.invoke({ appId: 'b', method: 'buy', data: Buffer.alloc(0) }));
  t.is(err.hearthCode, 'HEARTH_ERR_APP_ERROR');
  t.deepEqual(err.detailsJson, { appCode: 'OUT_OF_STOCK' });
  t.regex(err.details, /no more widgets/);
  await stop(b);
});

test.serial('an app code that no gRPC header could hold still reaches A intact (escaped JSON)', async (t) => {
  const code = 'ÉCHEC\u007f\u2028😀';
  await instanceOfB(t, () => ({ error: { code, message: 'nope' } }));
  const err = await failure(a.invoke({ appId: 'b', method: 'buy', data: Buffer.alloc(0) }));
  t.is(err.hearthCode, 'HEARTH_ERR_APP_ERROR');
  t.deepEqual(err.detailsJson, { appCode: code });
});

test.serial('a slow B with a short deadline: A gets DEADLINE_EXCEEDED and the agent records HEARTH_ERR_TIMEOUT', async (t) => {
  const slow = held();
  const b = await instanceOfB(t, slow.handler);
  const timeouts = { api: 'invoke.invoke', code: 'HEARTH_ERR_TIMEOUT' };
  const before = await rt.requests(timeouts);
  const err = await failure(a.invoke({ appId: 'b', method: 'slow', data: Buffer.alloc(0) }, { timeoutMs: 300 }));
  t.is(err.code, grpc.status.DEADLINE_EXCEEDED);
  t.is(b.received.length, 1);
  t.true(b.received[0]!.deadlineMs <= 300);
  await waitFor('the agent to count the timeout', async () => (await rt.requests(timeouts)) > before);
  // The call's log line is written as it is counted.
  t.true(rt.logText().split('\n').some((l) => l.includes('"api":"invoke.invoke"') && l.includes('HEARTH_ERR_TIMEOUT')), 'the timeout is logged with its code');
  slow.release({ data: Buffer.from('late') }); // a late answer is dropped
  t.pass();
  await stop(b);
});

test.serial('the caller cancelling cancels B pending invocation on the agent (HEARTH_ERR_CANCELLED)', async (t) => {
  const slow = held();
  const b = await instanceOfB(t, slow.handler);
  const cancellations = { api: 'invoke.invoke', code: 'HEARTH_ERR_CANCELLED' };
  const before = await rt.requests(cancellations);
  const { call, response } = a.start({ appId: 'b', method: 'cancel-me', data: Buffer.alloc(0) });
  await waitFor('B to receive the call', () => Promise.resolve(b.received.length === 1 ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });
  call.cancel();
  const err = await failure(response);
  t.is(err.code, grpc.status.CANCELLED);
  await waitFor('the agent to count the cancellation', async () => (await rt.requests(cancellations)) > before);
  // The call's log line is written as it is counted.
  const line = rt.logText().split('\n').find((l) => l.includes('"api":"invoke.invoke"') && l.includes('HEARTH_ERR_CANCELLED'));
  t.truthy(line);
  slow.release({ data: Buffer.from('too late') });
  await stop(b);
  const next = held();
  const b2 = await instanceOfB(t, next.handler);
  const again = a.invoke({ appId: 'b', method: 'after', data: Buffer.alloc(0) });
  await waitFor('B2 to receive', () => Promise.resolve(b2.received.length === 1 ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });
  next.release({ data: Buffer.from('fine') });
  t.is((await again).data.toString(), 'fine');
  await stop(b2);
});

test.serial('B callback stream closing mid-call: A gets APP_UNAVAILABLE', async (t) => {
  const b = await instanceOfB(t, () => null);
  const pending = a.invoke({ appId: 'b', method: 'm', data: Buffer.alloc(0) });
  await waitFor('B to receive the call', () => Promise.resolve(b.received.length === 1 ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });
  await stop(b);
  const err = await failure(pending);
  t.is(err.hearthCode, 'HEARTH_ERR_APP_UNAVAILABLE');
});

test.serial('two B instances share the load: each gets half of the calls in flight', async (t) => {
  const gate = held();
  const b1 = await instanceOfB(t, gate.handler);
  const b2 = await instanceOfB(t, gate.handler);
  const calls = Array.from({ length: 6 }, (_, i) => a.invoke({ appId: 'b', method: `m${i}`, data: Buffer.alloc(0) }));
  await waitFor('all six calls to arrive', () => Promise.resolve(b1.received.length + b2.received.length === 6 ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });
  t.is(b1.received.length, 3);
  t.is(b2.received.length, 3);
  gate.release({ data: Buffer.from('done') });
  const results = await Promise.all(calls);
  t.true(results.every((r) => r.data.toString() === 'done'));
  await stop(b1);
  await stop(b2);
});

test.serial('the first message must be register: anything else ends the stream with INVALID_ARGUMENT', async (t) => {
  const bad = await CallbackApp.connect(rt.byId.b!.grpc.socket, B_TOKEN, () => ({}), { first: { result: { id: '1' } } });
  apps.push(bad);
  const ended = await bad.ended;
  t.is(ended?.code, grpc.status.INVALID_ARGUMENT);
  t.is(ended?.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT');
});

test.serial('an app half-closing its callback stream ends it cleanly and fails its pending calls fast', async (t) => {
  const b = await instanceOfB(t, () => null);
  const pending = a.invoke({ appId: 'b', method: 'm', data: Buffer.alloc(0) });
  await waitFor('B to receive the call', () => Promise.resolve(b.received.length === 1 ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });
  b.end();
  t.is(await b.ended, undefined);
  t.is((await failure(pending)).hearthCode, 'HEARTH_ERR_APP_UNAVAILABLE');
  await stop(b);
});

test.serial('health reports Invoke and AppCallback as SERVING', async (t) => {
  const anonymous = rt.grpcClients(rt.demo.grpc.socket);
  for (const s of ['Invoke', 'AppCallback']) t.is((await anonymous.health.Check({ service: `hearth.runtime.v1.${s}` })).status, 'SERVING', s);
});

test.serial('closing the server ends callback streams with UNAVAILABLE + HEARTH_ERR_DRAINING; a pending call fails over as APP_UNAVAILABLE', async (t) => {
  // Runs last: it closes b's server.
  const b = await instanceOfB(t, () => null);
  const pending = a.invoke({ appId: 'b', method: 'm', data: Buffer.alloc(0) });
  await waitFor('B to receive the call', () => Promise.resolve(b.received.length === 1 ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });
  await rt.byId.b!.grpc.server.close(2000);
  const ended = await b.ended;
  t.is(ended?.code, grpc.status.UNAVAILABLE);
  t.is(ended?.hearthCode, 'HEARTH_ERR_DRAINING');
  t.is((await failure(pending)).hearthCode, 'HEARTH_ERR_APP_UNAVAILABLE');
  const err = await failure(a.invoke({ appId: 'b', method: 'm', data: Buffer.alloc(0) }));
  t.is(err.hearthCode, 'HEARTH_ERR_APP_UNAVAILABLE');
});
