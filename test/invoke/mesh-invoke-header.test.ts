// Forwarded invocations with their routing in the header (Mesh/Invoke, docs/wire-protocol.md,
// "Forwarding"): a WireChannel to a real PeerWireServer learns from its first Pong that the server
// takes Mesh/Invoke and sends every later call that way — data as the body, every field of the
// invocation intact both ways — while a server of an earlier build (one that never sets
// PONG_MESH_INVOKE, played here by the same session code without the flag) keeps getting
// Invoke/InvokeService, and an app may not call Mesh/Invoke at all.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { policyFor } from '../../agent/config/mesh-config.js';
import type { CallbackInvocation, ForwardedCall } from '../../agent/building-blocks/runtime-api.js';
import { WireChannel } from '../../agent/mesh/wire-channel.js';
import { authorizeMethod, peerWorkerPrincipal } from '../../agent/mesh/forward-policy.js';
import { invokeMethods } from '../../agent/transports/methods/invoke-methods.js';
import { WireConnections } from '../../agent/transports/wire/wire-connections.js';
import type { Identify } from '../../agent/transports/wire/wire-session.js';
import { METHODS, WireConnection, type WireRequestHeader } from '@hearth/protocol';
import { startMeshNode, type MeshNode } from '../helpers/mesh-node.js';
import { waitFor } from '../support/wait.js';

const cleanups: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const silent = pino({ level: 'silent' });

async function calleeNode(): Promise<{ dir: string; node: MeshNode; seen: CallbackInvocation[] }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hmi-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const node = await startMeshNode({ dir, pid: 201, alive: new Set() });
  cleanups.push(() => node.close());
  const seen: CallbackInvocation[] = [];
  node.serve('callee', (inv) => {
    seen.push(inv);
    return { ok: true, result: { data: Buffer.concat([Buffer.from('echo:'), inv.data]), contentType: 'application/x-echo', metadata: { answered: inv.method } } };
  });
  return { dir, node, seen };
}

/** A channel whose connections record the method of every Request they send. */
function recordingChannel(socketPath: string, methods: string[]): WireChannel {
  const channel = new WireChannel({
    name: 'worker:201',
    size: 1,
    agentId: 'test',
    logger: silent,
    connect: async () => {
      const conn = await WireConnection.connect({ endpoint: { path: socketPath } });
      const unary = conn.unary.bind(conn);
      conn.unary = (header: WireRequestHeader, body, options) => {
        methods.push(header.method);
        return unary(header, body, options);
      };
      return conn;
    },
  });
  cleanups.push(() => channel.close());
  return channel;
}

function call(node: MeshNode, data: string): ForwardedCall {
  return {
    target: 'callee',
    method: 'orders/create',
    data: Buffer.from(data),
    contentType: 'text/plain',
    metadata: { 'x-tenant': 't1' },
    httpVerb: 'PUT',
    idempotent: true,
    caller: 'caller',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    policy: policyFor(node.config.invoke, 'callee'),
    scope: 'any',
    deadline: Date.now() + 5_000,
    origin: { requestId: 'r1', logger: silent },
  };
}

test('after the first Pong, calls go as Mesh/Invoke and every field of the invocation arrives and returns intact', async (t) => {
  const { node, seen } = await calleeNode();
  const methods: string[] = [];
  const channel = recordingChannel(node.mesh.peers.socketPath, methods);
  const signal = new AbortController().signal;
  // The first call may leave before the connection's Pong: it goes as InvokeService.
  await channel.forward(call(node, 'first'), 0, signal);
  await waitFor('a call sent as Mesh/Invoke', async () => {
    await channel.forward(call(node, 'probe'), 0, signal);
    return methods.at(-1) === METHODS.meshInvoke;
  });
  const before = methods.length;
  const res = await channel.forward(call(node, 'héllo'), 0, signal);
  t.deepEqual(methods.slice(before), [METHODS.meshInvoke]);
  t.is(res.data.toString(), 'echo:héllo');
  t.is(res.contentType, 'application/x-echo');
  t.is(res.metadata.answered, 'orders/create');
  const inv = seen.at(-1);
  t.is(inv?.method, 'orders/create');
  t.is(inv?.data.toString(), 'héllo');
  t.is(inv?.contentType, 'text/plain');
  t.is(inv?.metadata['x-tenant'], 't1');
  t.is(inv?.callerAppId, 'caller');
  t.is(inv?.httpVerb, 'PUT');
  t.true((inv?.deadlineMs ?? 0) > 0 && (inv?.deadlineMs ?? 0) <= 5_000);
});

test('an empty body and an empty answer travel as zero-length frames', async (t) => {
  const { node, seen } = await calleeNode();
  const methods: string[] = [];
  const channel = recordingChannel(node.mesh.peers.socketPath, methods);
  const signal = new AbortController().signal;
  await waitFor('a call sent as Mesh/Invoke', async () => {
    await channel.forward(call(node, 'probe'), 0, signal);
    return methods.at(-1) === METHODS.meshInvoke;
  });
  const res = await channel.forward(call(node, ''), 0, signal);
  t.is(res.data.toString(), 'echo:');
  t.is(seen.at(-1)?.data.length, 0);
});

test('a server of an earlier build (no PONG_MESH_INVOKE) keeps getting Invoke/InvokeService, and its calls succeed', async (t) => {
  const { dir, node, seen } = await calleeNode();
  // The session code as the previous build ran it on the peer socket: no meshInvoke.
  const sessions = new WireConnections(
    { api: node.api, unary: invokeMethods(node.api), metrics: node.metrics, logger: silent, maxBodyBytes: 1 << 20, anonymousLabel: '-', authorize: authorizeMethod },
    'peers',
  );
  const socketPath = path.join(dir, 'old-build.sock');
  const server = net.createServer((socket) => sessions.accept(socket, (header) => peerWorkerPrincipal(header)));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  cleanups.push(async () => {
    sessions.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const methods: string[] = [];
  const channel = recordingChannel(socketPath, methods);
  const signal = new AbortController().signal;
  for (let i = 0; i < 20; i++) {
    const res = await channel.forward(call(node, `n${i}`), 0, signal);
    t.is(res.data.toString(), `echo:n${i}`);
    t.is(res.contentType, 'application/x-echo');
  }
  // Long past the connection's first Pong.
  t.true(methods.length === 20 && methods.every((m) => m === METHODS.invoke), methods.join());
  t.is(seen.length, 20);
});

/** A session table and server on `socketPath` whose every connection speaks for `principal`. */
async function listen(socketPath: string, deps: ConstructorParameters<typeof WireConnections>[0], identify: Identify): Promise<void> {
  const sessions = new WireConnections(deps, 'test');
  const server = net.createServer((socket) => sessions.accept(socket, identify));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  cleanups.push(async () => {
    sessions.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
}

test('Mesh/Invoke without its invocation header is refused as malformed; an app may not call it', async (t) => {
  const { dir, node, seen } = await calleeNode();
  const conn = await WireConnection.connect({ endpoint: { path: node.mesh.peers.socketPath } });
  cleanups.push(() => conn.close(0));
  const missing = await t.throwsAsync(conn.unary({ method: METHODS.meshInvoke, caller: 'caller' }, Buffer.from('x')));
  t.is((missing as { code?: string }).code, 'HEARTH_ERR_MALFORMED_REQUEST');

  const app = node.config.apps.find((a) => a.id === 'caller');
  if (app === undefined) throw new Error('no app caller');
  const base = { api: node.api, unary: invokeMethods(node.api), metrics: node.metrics, logger: silent, maxBodyBytes: 1 << 20, anonymousLabel: '-' };
  const request = { method: METHODS.meshInvoke, invocation: { appId: 'callee', method: 'm' } };
  // The sibling port, where an app's SDK may fail over with its token: the app is refused.
  const sibling = path.join(dir, 'sibling-like.sock');
  await listen(sibling, { ...base, authorize: authorizeMethod, meshInvoke: true }, () => ({ kind: 'app', app }));
  const viaSibling = await WireConnection.connect({ endpoint: { path: sibling } });
  cleanups.push(() => viaSibling.close(0));
  t.is(((await t.throwsAsync(viaSibling.unary(request, Buffer.from('x')))) as { code?: string }).code, 'HEARTH_ERR_PERMISSION_DENIED');
  // An app's own socket does not know the method.
  const own = path.join(dir, 'app-like.sock');
  await listen(own, base, () => ({ kind: 'app', app }));
  const viaOwn = await WireConnection.connect({ endpoint: { path: own } });
  cleanups.push(() => viaOwn.close(0));
  t.is(((await t.throwsAsync(viaOwn.unary(request, Buffer.from('x')))) as { code?: string }).code, 'HEARTH_ERR_NOT_FOUND');
  t.is(seen.length, 0);
});
