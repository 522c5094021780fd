// Forwarding between the workers of one agent, in process: two mesh nodes share a run dir (as the
// workers of one host do) and reach each other over their real PeerWireServers on
// <runDir>/workers/<pid>.sock.
import test from 'ava';
import { policyFor } from '../../agent/config/mesh-config.js';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { CallbackInvocation } from '../../agent/building-blocks/runtime-api.js';
import { WireChannel } from '../../agent/mesh/wire-channel.js';
import { WireConnection } from '@hearth/protocol';
import { pino } from 'pino';

import { ok, startMeshNode, type MeshNode } from '../helpers/mesh-node.js';
import { waitFor } from '../support/wait.js';

const cleanups: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function twoWorkers(): Promise<{ dir: string; w1: MeshNode; w2: MeshNode; alive: Set<number> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hm-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const alive = new Set<number>();
  const w1 = await startMeshNode({ dir, pid: 101, alive });
  cleanups.push(() => w1.close());
  const w2 = await startMeshNode({ dir, pid: 102, alive });
  cleanups.push(() => w2.close());
  // w1 read the directory before w2 existed: it finds w2 on its first miss.
  return { dir, w1, w2, alive };
}

test('a call on a worker without the callee is forwarded to the worker holding its stream, with the caller identity', async (t) => {
  const { w1, w2 } = await twoWorkers();
  const seen: CallbackInvocation[] = [];
  w2.serve('callee', (inv) => {
    seen.push(inv);
    return ok(`w2:${inv.data.toString()}`);
  });
  const res = await w1.invoke({ appId: 'callee', method: 'hello', data: Buffer.from('x') });
  t.is(res.data.toString(), 'w2:x');
  t.is(seen.length, 1);
  t.is(seen[0]?.callerAppId, 'caller');
  t.is(seen[0]?.method, 'hello');
});

test('local short-circuit: with an instance on this worker, the other worker never sees the call', async (t) => {
  const { w1, w2 } = await twoWorkers();
  let onW2 = 0;
  w1.serve('callee', () => ok('w1'));
  w2.serve('callee', () => {
    onW2 += 1;
    return ok('w2');
  });
  for (let i = 0; i < 20; i++) t.is((await w1.invoke({ appId: 'callee' })).data.toString(), 'w1');
  t.is(onW2, 0);
});

test('no instance on any worker of the host: HEARTH_ERR_APP_UNAVAILABLE', async (t) => {
  const { w1 } = await twoWorkers();
  const err = await t.throwsAsync(w1.invoke({ appId: 'callee', idempotent: true }));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_APP_UNAVAILABLE');
});

test('the remaining budget travels to the other worker, smaller than what the caller gave', async (t) => {
  const { w1, w2 } = await twoWorkers();
  let budget = -1;
  w2.serve('callee', (inv) => {
    budget = inv.deadlineMs;
    return ok('');
  });
  await w1.invoke({ appId: 'callee' }, { budgetMs: 5_000 });
  t.true(budget > 0, `budget ${budget}`);
  t.true(budget <= 5_000, `budget ${budget}`);
});

test('a call whose deadline has passed is refused with HEARTH_ERR_TIMEOUT and never reaches the other worker', async (t) => {
  const { w1, w2 } = await twoWorkers();
  let onW2 = 0;
  w2.serve('callee', () => {
    onW2 += 1;
    return ok('');
  });
  const channel = new WireChannel({
    name: 'worker:102',
    size: 1,
    agentId: 'test',
    logger: pino({ level: 'silent' }),
    connect: () => WireConnection.connect({ endpoint: { path: w2.mesh.peers.socketPath } }),
  });
  cleanups.push(() => channel.close());
  const request = {
    target: 'callee',
    method: 'm',
    data: Buffer.alloc(0),
    contentType: '',
    metadata: {},
    httpVerb: '',
    idempotent: true,
    caller: 'caller',
    traceparent: '',
    policy: policyFor(w2.config.invoke, 'callee'),
    scope: 'any' as const,
    origin: { requestId: 'r1', logger: pino({ level: 'silent' }) },
  };
  const err = await t.throwsAsync(channel.forward({ ...request, deadline: Date.now() - 1 }, 1, new AbortController().signal));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_TIMEOUT');
  t.is((err as { details?: Record<string, unknown> }).details?.notSent, true);
  // The same channel delivers a live call: only that one reached the worker.
  await channel.forward({ ...request, deadline: Date.now() + 5_000 }, 1, new AbortController().signal);
  t.is(onW2, 1);
  t.truthy(w1);
});

test('a socket in the workers directory whose pid is dead is skipped and unlinked', async (t) => {
  const { dir, w1 } = await twoWorkers();
  const stale = path.join(dir, 'run', 'workers', '4000000.sock');
  // A real socket file nobody accepts on any more (what a kill -9 leaves).
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ path: stale, exclusive: true }, resolve));
  await new Promise<void>((resolve) => {
    // Closing unlinks; put a plain file back in its place to stand for the leftover.
    server.close(() => resolve());
  });
  await writeFile(stale, '');
  await w1.mesh.peers.refresh();
  await waitFor('the stale socket unlinked', async () => ((await stat(stale).catch(() => undefined)) === undefined ? true : undefined), { timeoutMs: 5_000 });
  t.deepEqual(
    w1.mesh.peers.list().map((p) => p.pid),
    [102],
  );
});

test('a worker that stops is forgotten and its socket file is gone', async (t) => {
  const { w1, w2 } = await twoWorkers();
  await w1.mesh.peers.refresh();
  t.deepEqual(
    w1.mesh.peers.list().map((p) => p.pid),
    [102],
  );
  const socket = w2.mesh.peers.socketPath;
  await w2.close();
  t.is(await stat(socket).catch(() => undefined), undefined);
  await w1.mesh.peers.refresh();
  t.deepEqual(w1.mesh.peers.list(), []);
});

test('a worker that holds no instance of the target is never asked (it publishes the apps it holds)', async (t) => {
  const { dir, w1, w2, alive } = await twoWorkers();
  const w3 = await startMeshNode({ dir, pid: 103, alive });
  cleanups.push(() => w3.close());
  w2.serve('callee', () => ok('w2'));
  w3.serve('stranger', () => ok('w3'));
  for (let i = 0; i < 20; i++) t.is((await w1.invoke({ appId: 'callee' })).data.toString(), 'w2');
  const attempts = await w1.metrics.invokeAttempts.get();
  const failed = attempts.values.filter((v) => v.labels.code !== 'OK' && v.value > 0);
  t.deepEqual(failed, []);
});
