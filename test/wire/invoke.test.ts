// Service invocation over wire: an app serves calls on an AppCallback stream over its wire.sock
// (answered by the raw test client), another app invokes it over its own wire.sock, sibling
// agents forward invocations over the TLS port (the cluster token; a client certificate is no identity) and other
// workers over the peer socket; the target's allow.callers is enforced with the forwarded caller.
import test, { type ExecutionContext } from 'ava';
import { FrameType, PONG_MESH_INVOKE } from '@hearth/protocol';
import { CLUSTER_TOKEN, startInProcess, type InProcess } from '../helpers/in-process.js';
import { WireTestClient, type Msg } from '../helpers/wire-test-client.js';

let rt: InProcess<'wire'>;
test.before(async () => {
  // Forwarded calls need an allow-list to be refused by: `other` accepts calls from `demo` only.
  rt = await startInProcess({ transports: ['wire'], otherCallers: ['demo'] });
});
test.after.always(async () => {
  await rt?.close();
});

const INVOKE = 'hearth.runtime.v1.Invoke/InvokeService';
const CONNECT = 'hearth.runtime.v1.AppCallback/Connect';

interface Invocation {
  id: string;
  method: string;
  data: Buffer;
  callerAppId: string;
  deadlineMs: number;
}

/**
 * App `other` serving on a callback stream of its wire.sock: `answer` gives the result message
 * of each invocation (undefined: never answer it). Returns when registered; stop() ends the stream with End.
 */
async function serveOther(answer: (inv: Invocation) => Msg | undefined): Promise<{ seen: Invocation[]; stop: () => Promise<string | undefined> }> {
  const c = await rt.connect(rt.other.wire.socket);
  const sid = c.open(CONNECT, { register: { methods: ['echo'], maxConcurrency: 4 } }, { token: rt.other.token });
  const registered = await c.streamMessage<{ registered?: { instanceId: string } }>(sid, CONNECT);
  if (!registered.registered?.instanceId) throw new Error('no `registered` message');
  const seen: Invocation[] = [];
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const m = await c.streamMessage<{ invocation?: Invocation }>(sid, CONNECT, 60_000).catch(() => undefined);
      if (m?.invocation === undefined) continue;
      seen.push(m.invocation);
      const result = answer(m.invocation);
      if (result !== undefined) c.message(sid, CONNECT, { result: { id: m.invocation.id, ...result } });
    }
  };
  void loop();
  return {
    seen,
    stop: async () => {
      stopped = true;
      c.send({ type: FrameType.End, streamId: sid });
      return (await c.answer(sid, CONNECT)).code;
    },
  };
}

const echo = (inv: Invocation): Msg => ({ data: Buffer.concat([Buffer.from('echo:'), inv.data]), contentType: 'text/plain', metadata: { served: 'yes' } });

async function invokeOther(t: ExecutionContext, c: WireTestClient, header: Msg, data = 'hi'): Promise<{ code: string | undefined; data: string; meta: Record<string, string> }> {
  const a = await c.call<{ data: Buffer; metadata: Record<string, string> }>(INVOKE, { appId: 'other', method: 'echo', data: Buffer.from(data) }, header);
  t.truthy(a.header.requestId);
  return { code: a.code, data: a.message.data?.toString() ?? '', meta: { ...a.header.metadata, ...a.message.metadata } };
}

test.serial('an app invokes another through its wire.sock; the callee answers on its wire callback stream', async (t) => {
  const server = await serveOther(echo);
  try {
    const c = await rt.connect(rt.demo.wire.socket);
    const r = await invokeOther(t, c, { token: rt.demo.token });
    t.is(r.code, undefined);
    t.is(r.data, 'echo:hi');
    t.is(r.meta.served, 'yes');
    t.is(server.seen[0]?.callerAppId, 'demo');
    t.is(server.seen[0]?.method, 'echo');
  } finally {
    t.is(await server.stop(), undefined);
  }
});

test.serial('an app error comes back as HEARTH_ERR_APP_ERROR with the app\'s code', async (t) => {
  const server = await serveOther(() => ({ error: { code: 'E42', message: 'no such order' } }));
  try {
    const r = await invokeOther(t, await rt.connect(rt.demo.wire.socket), { token: rt.demo.token });
    t.is(r.code, 'HEARTH_ERR_APP_ERROR');
    t.is(r.meta['detail.appCode'], 'E42');
  } finally {
    await server.stop();
  }
});

test.serial('without a connected instance the call is HEARTH_ERR_APP_UNAVAILABLE; a spent budget is HEARTH_ERR_TIMEOUT', async (t) => {
  const c = await rt.connect(rt.demo.wire.socket);
  t.is((await invokeOther(t, c, { token: rt.demo.token })).code, 'HEARTH_ERR_APP_UNAVAILABLE');
  const server = await serveOther(() => undefined);
  try {
    // The instance never answers: the caller's 200 ms budget ends the call.
    const slow = await rt.connect(rt.demo.wire.socket);
    const sid = slow.open(INVOKE, { appId: 'other', method: 'echo', data: Buffer.from('x') }, { token: rt.demo.token, deadlineMs: 200 });
    t.is((await slow.answer(sid, INVOKE)).code, 'HEARTH_ERR_TIMEOUT');
  } finally {
    await server.stop();
  }
});

test.serial('sibling port: the cluster token forwards the call with the caller it names; allow.callers is enforced', async (t) => {
  const server = await serveOther(echo);
  try {
    const agent = await rt.connectSibling();
    const forwarded = await invokeOther(t, agent, { token: CLUSTER_TOKEN, caller: 'demo', metadata: { 'hearth-forwarded-by': 'agent-1' } });
    t.is(forwarded.code, undefined);
    t.is(forwarded.data, 'echo:hi');
    t.is(server.seen.at(-1)?.callerAppId, 'demo');

    // `other` accepts calls from `demo` only.
    t.is((await invokeOther(t, agent, { token: CLUSTER_TOKEN, caller: 'stranger' })).code, 'HEARTH_ERR_PERMISSION_DENIED');
    // An agent forwards invocations, nothing else.
    const state = await agent.call('hearth.runtime.v1.State/GetState', { storeName: 'statestore', key: 'k' }, { token: CLUSTER_TOKEN, caller: 'demo' });
    t.is(state.code, 'HEARTH_ERR_PERMISSION_DENIED');
  } finally {
    await server.stop();
  }
});

test.serial('sibling port: a CA-signed client certificate is no identity: without the cluster token it gets no agent rights, with an app token it is that app, with the cluster token it forwards', async (t) => {
  const server = await serveOther(echo);
  try {
    const certified = await rt.connectSibling(true);
    // No token: the certificate alone does not make it an agent, whatever `caller` it names.
    t.is((await invokeOther(t, certified, { caller: 'demo' })).code, 'HEARTH_ERR_UNAUTHENTICATED');
    const seenBefore = server.seen.length;
    // An app holding a certificate cannot pose as another app: its token is checked against `caller`.
    t.is((await invokeOther(t, certified, { token: rt.demo.token, caller: 'other' })).code, 'HEARTH_ERR_UNAUTHENTICATED');
    t.is(server.seen.length, seenBefore);
    // With its own token it is that app (an SDK that failed over under mutual TLS).
    const asApp = await invokeOther(t, certified, { token: rt.demo.token, caller: 'demo' });
    t.is(asApp.code, undefined);
    t.is(asApp.data, 'echo:hi');
    // mTLS plus the cluster token: an agent, forwarding.
    const forwarded = await invokeOther(t, certified, { token: CLUSTER_TOKEN, caller: 'demo' });
    t.is(forwarded.code, undefined);
    t.is(forwarded.data, 'echo:hi');
    const state = await certified.call('hearth.runtime.v1.State/GetState', { storeName: 'statestore', key: 'k' }, { token: CLUSTER_TOKEN, caller: 'demo' });
    t.is(state.code, 'HEARTH_ERR_PERMISSION_DENIED');
  } finally {
    await server.stop();
  }
});

test.serial('sibling port: an app\'s own token makes it that app (an SDK that failed over); wrong tokens and unknown apps are refused alike', async (t) => {
  const GET = 'hearth.runtime.v1.State/GetState';
  const req = { storeName: 'statestore', key: 'k' };
  // A fresh connection per refusal: a few failed authentications close a connection.
  const refused = async (header: { token?: string; caller?: string }): Promise<string | undefined> => (await (await rt.connectSibling()).call(GET, req, header)).code;
  t.is(await refused({ token: rt.demo.token, caller: 'other' }), 'HEARTH_ERR_UNAUTHENTICATED');
  t.is(await refused({ token: 'wrong-token-0123456789abcdef0123456789', caller: 'demo' }), 'HEARTH_ERR_UNAUTHENTICATED');
  t.is(await refused({ token: rt.demo.token, caller: 'nobody' }), 'HEARTH_ERR_UNAUTHENTICATED');
  t.is(await refused({ token: rt.demo.token }), 'HEARTH_ERR_UNAUTHENTICATED');
  const c = await rt.connectSibling();
  t.is((await c.call(GET, req, { token: rt.demo.token, caller: 'demo' })).code, undefined);
  // As the app, it may invoke (its own ACLs apply) like on its own agent.
  const server = await serveOther(echo);
  try {
    const r = await invokeOther(t, c, { token: rt.demo.token, caller: 'demo' });
    t.is(r.code, undefined);
    t.is(r.data, 'echo:hi');
  } finally {
    await server.stop();
  }
});

test.serial('peer socket: another worker forwards an invocation with the caller it verified', async (t) => {
  const server = await serveOther(echo);
  try {
    const { path } = await rt.peer();
    const worker = await rt.connect(path);
    const r = await invokeOther(t, worker, { caller: 'demo' });
    t.is(r.code, undefined);
    t.is(r.data, 'echo:hi');
    t.is((await invokeOther(t, worker, { caller: 'stranger' })).code, 'HEARTH_ERR_PERMISSION_DENIED');
    t.is((await invokeOther(t, worker, {})).code, 'HEARTH_ERR_INVALID_ARGUMENT');
    const state = await worker.call('hearth.runtime.v1.State/GetState', { storeName: 'statestore', key: 'k' }, { caller: 'demo' });
    t.is(state.code, 'HEARTH_ERR_NOT_FOUND');
  } finally {
    await server.stop();
  }
});

test.serial('a callback stream that goes away fails its pending invocation with HEARTH_ERR_APP_UNAVAILABLE', async (t) => {
  const callee = await WireTestClient.unix(rt.other.wire.socket);
  const sid = callee.open(CONNECT, { register: { methods: [], maxConcurrency: 0 } }, { token: rt.other.token });
  await callee.streamMessage(sid, CONNECT);
  const c = await rt.connect(rt.demo.wire.socket);
  const pending = c.open(INVOKE, { appId: 'other', method: 'm', data: Buffer.alloc(0) }, { token: rt.demo.token });
  await callee.streamMessage(sid, CONNECT); // the invocation arrived
  callee.close();
  t.is((await c.answer(pending, INVOKE)).code, 'HEARTH_ERR_APP_UNAVAILABLE');
});

test('sibling port: Ping is answered with Pong, which says the port takes Mesh/Invoke and is not draining', async (t) => {
  const c = await rt.connectSibling();
  c.send({ type: FrameType.Ping, streamId: 0, body: Buffer.from('12345678') });
  const pong = await c.next((f) => f.type === FrameType.Pong);
  t.is(pong.body.toString(), '12345678');
  t.is(pong.flags, PONG_MESH_INVOKE);
});

test('an app\'s own wire socket does not advertise Mesh/Invoke in its Pong', async (t) => {
  const c = await rt.connect(rt.demo.wire.socket);
  c.send({ type: FrameType.Ping, streamId: 0, body: Buffer.from('12345678') });
  const pong = await c.next((f) => f.type === FrameType.Pong);
  t.is(pong.flags & PONG_MESH_INVOKE, 0);
});

test.serial('a deadline beyond 2^31-1 ms is clamped to it, not treated as spent: the call is answered normally', async (t) => {
  const server = await serveOther(echo);
  try {
    const c = await rt.connect(rt.demo.wire.socket);
    const r = await invokeOther(t, c, { token: rt.demo.token, deadlineMs: 2 ** 32 - 1 });
    t.is(r.code, undefined);
    t.is(r.data, 'echo:hi');
    const budget = server.seen.at(-1)?.deadlineMs ?? 0;
    t.true(Number(budget) <= 2 ** 31 - 1, `budget ${String(budget)}`);
  } finally {
    await server.stop();
  }
});
