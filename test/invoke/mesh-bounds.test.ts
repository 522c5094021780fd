// Per-target state of the invoke mesh stays bounded when an app invokes ids x1, x2, …: idle
// governors are evicted (an injected clock stands in for ten minutes), undeclared targets share
// one metrics label, and the sibling pool closes the channel of a registry address that is no
// longer listed (real TLS sibling server, real connections) while keeping static peers. And per
// call: the caller's logger is handed on lazily, so a call that logs nothing never makes one.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { CallbackRegistration, ForwardedCall } from '../../agent/building-blocks/runtime-api.js';
import { policyFor } from '../../agent/config/mesh-config.js';
import { MeshRouter, OTHER_TARGET_LABEL } from '../../agent/mesh/mesh-router.js';
import { SiblingPool } from '../../agent/mesh/sibling-pool.js';
import { AgentMetrics } from '../../agent/observability/metrics.js';
import { runForwardedInvoke } from '../../agent/transports/methods/invoke-methods.js';
import { AppRegistry } from '../../agent/apps/app-registry.js';
import type { CallContext } from '../../agent/building-blocks/runtime-api.js';

import { ok, startMeshNode, type MeshNode } from '../helpers/mesh-node.js';
import { freePort } from '../support/free-port.js';
import { makeTlsFiles } from '../support/tls-certs.js';
import { waitFor } from '../support/wait.js';

const CLUSTER_TOKEN = 'cluster-token-0123456789abcdef0123456789';
const silent = pino({ level: 'silent' });
const cleanups: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hb-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function node(pid: number, siblings?: Record<string, unknown>): Promise<MeshNode> {
  const n = await startMeshNode({ dir: await tempDir(), pid, alive: new Set(), ...(siblings === undefined ? {} : { siblings }) });
  cleanups.push(() => n.close());
  return n;
}

/** Registers an in-process instance of `appId`; `hold` keeps its calls unanswered until released. */
function instance(n: MeshNode, appId: string, hold?: { release?: () => void }): CallbackRegistration {
  const box: { reg?: CallbackRegistration } = {};
  box.reg = n.callbacks.register(
    appId,
    {
      push: (inv) => {
        const answer = (): void => box.reg?.complete(inv.id, ok(appId));
        if (hold === undefined) setImmediate(answer);
        else hold.release = answer;
      },
    },
    {},
  );
  return box.reg;
}

function routed(n: MeshNode, target: string): ForwardedCall {
  return {
    target,
    method: 'echo',
    data: Buffer.from('x'),
    contentType: '',
    metadata: {},
    httpVerb: '',
    caller: 'caller',
    idempotent: false,
    deadline: Date.now() + 5_000,
    traceparent: '',
    policy: policyFor(n.config.invoke, target),
    scope: 'worker',
    origin: { requestId: `r-${target}`, logger: silent },
  };
}

test('a governor idle for the idle period is evicted, one with a call in flight is kept, and the LRU cap bounds the count', async (t) => {
  const n = await node(301);
  let now = 1_000_000;
  const router = new MeshRouter({ callbacks: n.callbacks, logger: silent, governorIdleMs: 600_000, clock: () => now });
  cleanups.push(() => router.close());
  for (const id of ['x1', 'x2', 'x3']) instance(n, id);
  const held: { release?: () => void } = {};
  instance(n, 'x4', held);

  await router.route(routed(n, 'x1'));
  await router.route(routed(n, 'x2'));
  const pending = router.route(routed(n, 'x4'));
  await waitFor('x4 to receive its call', () => Promise.resolve(held.release === undefined ? undefined : true), { timeoutMs: 5_000, everyMs: 5 });
  t.is(router.governedTargets, 3);

  now += 600_001;
  await router.route(routed(n, 'x3'));
  // x1 and x2 went idle; x4 still has its call in flight.
  t.is(router.governedTargets, 2);
  held.release?.();
  t.is((await pending).data.toString(), 'x4');

  const capped = new MeshRouter({ callbacks: n.callbacks, logger: silent, maxGovernors: 2, clock: () => now });
  cleanups.push(() => capped.close());
  for (const id of ['x1', 'x2', 'x3', 'x1']) await capped.route(routed(n, id));
  t.is(capped.governedTargets, 2);
});

test('invocations of undeclared, unlisted ids share the target="other" label; declared and peer-listed targets keep their own', async (t) => {
  const a = await node(302, { agentId: 'host-a', peers: [{ name: 'gone', host: '127.0.0.1', port: await freePort(), apps: ['listed'] }] });
  for (const appId of ['callee', 'listed', 'x1', 'x2', 'x3']) {
    const err = await t.throwsAsync(a.invoke({ appId }));
    t.is((err as { code?: string }).code, 'HEARTH_ERR_APP_UNAVAILABLE', appId);
  }
  const labels = new Set((await a.metrics.invokes.get()).values.map((v) => String(v.labels.target)));
  t.deepEqual([...labels].sort(), ['callee', 'listed', OTHER_TARGET_LABEL].sort());
  const attempts = new Set((await a.metrics.invokeAttempts.get()).values.map((v) => String(v.labels.target)));
  t.false(attempts.has('x1'));
});

test('the pool closes the channel of a registry address no longer listed and unused, keeps a listed one, and never drops a static peer', async (t) => {
  const tls = await makeTlsFiles(await tempDir());
  const b = await node(401, {
    agentId: 'host-b',
    listen: { host: '127.0.0.1', port: 0 },
    tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile },
    token: CLUSTER_TOKEN,
  });
  b.serve('callee', () => ok('b'));
  // A knows B statically as 127.0.0.1; the registry "lists" B again as localhost (another key).
  const a = await node(402, {
    agentId: 'host-a',
    tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile },
    token: CLUSTER_TOKEN,
    peers: [{ name: 'host-b', host: '127.0.0.1', port: b.siblingPort }],
  });
  let now = 5_000_000;
  const metrics = new AgentMetrics();
  const pool = new SiblingPool({ siblings: a.config.siblings, maxFrameBytes: 1 << 20, metrics, logger: silent, idleMs: 180_000, clock: () => now });
  cleanups.push(() => pool.close());
  const staticAddr = { name: 'host-b', host: '127.0.0.1', port: b.siblingPort };
  const registered = { name: `localhost:${b.siblingPort}`, host: 'localhost', port: b.siblingPort };
  const req = (requestId: string): ForwardedCall => ({
    target: 'callee',
    method: 'echo',
    data: Buffer.from('x'),
    contentType: '',
    metadata: {},
    httpVerb: '',
    idempotent: false,
    caller: 'caller',
    deadline: Date.now() + 5_000,
    traceparent: '',
    policy: policyFor(a.config.invoke, 'callee'),
    scope: 'any',
    origin: { requestId, logger: silent },
  });
  const staticChannel = pool.channel(staticAddr);
  const regChannel = pool.channel(registered);
  t.is((await staticChannel.forward(req('s1'), 1, new AbortController().signal)).data.toString(), 'b');
  t.is((await regChannel.forward(req('r1'), 1, new AbortController().signal)).data.toString(), 'b');
  const open = async (): Promise<number> => (await metrics.meshConnections.get()).values.find((v) => v.labels.kind === 'sibling')?.value ?? 0;
  t.true((await open()) >= 2);

  // Still listed by the directory halfway through: kept.
  now += 100_000;
  pool.seen([registered]);
  now += 100_000;
  pool.sweep();
  t.false(regChannel.closed);

  // Gone from the directory and unused for the idle period: closed and dropped; the static peer stays.
  now += 180_000;
  pool.sweep();
  t.true(regChannel.closed);
  t.false(staticChannel.closed);
  t.is(pool.size, 1);
  await waitFor('the dropped channel\'s connections to close', async () => ((await open()) === 1 ? true : undefined), { timeoutMs: 5_000 });
  // Listed again later: a fresh channel.
  const again = pool.channel(registered);
  t.not(again, regChannel);
  t.is((await again.forward(req('r2'), 1, new AbortController().signal)).data.toString(), 'b');
});

test('an invoke that logs nothing never reads the caller\'s logger, on an app\'s own call and on a forwarded one', async (t) => {
  const n = await node(303);
  n.serve('callee', () => ok('here'));
  let reads = 0;
  const ctx: CallContext = {
    app: new AppRegistry(n.config.apps).require('caller'),
    requestId: 'lazy-1',
    transport: 'wire',
    get logger() {
      reads += 1;
      return silent;
    },
  };
  t.is((await n.api.invoke.invoke(ctx, { appId: 'callee', method: 'echo', data: Buffer.from('x') })).data.toString(), 'here');
  const forwarded = await runForwardedInvoke(
    n.api,
    { scope: 'host', callerAppId: 'caller' },
    {
      requestId: 'lazy-2',
      get logger() {
        reads += 1;
        return silent;
      },
    },
    { appId: 'callee', method: 'echo', data: Buffer.from('x'), contentType: '', metadata: {}, idempotent: false, httpVerb: '' },
  );
  t.is(forwarded.response.data.toString(), 'here');
  t.is(reads, 0);
});
