// Service invocation across two real hosts (two `hearth start` processes with their own run and
// state dirs, TLS sibling ports on loopback, cluster token, each other as static siblings, two
// workers each). The callee is a grpc-js AppCallback client; callers use gRPC, HTTP and wire.
// A third host with one worker checks the governance a caller sees: hedging around a slow
// instance, ejecting a failing one.
import test from 'ava';
import path from 'node:path';
import { runtimeMethods, WireConnection } from '@hearth/protocol';
import { CallbackApp, failure, InvokeClient } from '../helpers/callback-client.js';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import { HttpClient } from '../helpers/http-client.js';
import { CALLEE_TOKEN, CALLER_TOKEN, MESH_APPS, startTwoHosts, STRANGER_TOKEN, type TwoHosts } from '../helpers/two-hosts.js';
import { sleep } from '../support/wait.js';

const INVOKE = 'hearth.runtime.v1.Invoke/InvokeService';
const cleanups: (() => Promise<unknown> | void)[] = [];
let hosts: TwoHosts | undefined;
/** The callee's only instance at first: on host 2. */
let calleeOn2: CallbackApp | undefined;

test.before(async () => {
  hosts = await startTwoHosts({ workers: 2 });
  cleanups.push(() => hosts?.close());
  calleeOn2 = await CallbackApp.connect(sock(hosts.host2, 'callee', 'grpc'), CALLEE_TOKEN, (inv) => ({ data: Buffer.from(`host2:${inv.data.toString()}`) }));
  cleanups.push(() => calleeOn2?.close());
});

test.after.always(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

function two(): TwoHosts {
  if (hosts === undefined) throw new Error('hosts not started');
  return hosts;
}

function sock(h: HearthProcess, appId: string, kind: 'grpc' | 'http' | 'wire'): string {
  return path.join(h.runDir, 'apps', appId, `${kind}.sock`);
}

/** One call on a fresh wire connection (a fresh connection may land on either worker). */
async function wireInvoke(h: HearthProcess, token: string, appId: string, data: string): Promise<string> {
  const codec = runtimeMethods().get(INVOKE);
  if (codec === undefined) throw new Error('no invoke codec');
  const conn = await WireConnection.connect({ endpoint: { path: sock(h, 'caller', 'wire') } });
  try {
    const reply = await conn.unary(
      { method: INVOKE, token, deadlineMs: 10_000 },
      codec.serializeRequest({ appId, method: 'echo', data: Buffer.from(data), contentType: 'text/plain', metadata: {}, idempotent: false, httpVerb: '' }),
    );
    return (codec.deserializeResponse(reply.body) as { data: Buffer }).data.toString();
  } finally {
    await conn.close();
  }
}

async function httpInvoke(h: HearthProcess, token: string, appId: string, data: string): Promise<{ status: number; text: string; code: string | undefined }> {
  const client = new HttpClient(sock(h, 'caller', 'http'), { token, keepAlive: false });
  const res = await client.request({ method: 'POST', path: `/v1.0/invoke/${appId}/method/echo`, body: Buffer.from(data), headers: { 'content-type': 'text/plain' } });
  const code = res.headers['hearth-error-code'];
  return { status: res.status, text: res.text(), code: typeof code === 'string' ? code : undefined };
}

async function grpcInvoke(h: HearthProcess, token: string, appId: string, data: string, idempotent = false): Promise<string> {
  const client = new InvokeClient(sock(h, 'caller', 'grpc'), token);
  try {
    return (await client.invoke({ appId, method: 'echo', data: Buffer.from(data), idempotent }, { timeoutMs: 10_000 })).data.toString();
  } finally {
    client.close();
  }
}

test.serial('app A on host 1 invokes B that runs only on host 2, over gRPC, HTTP and wire', async (t) => {
  const { host1 } = two();
  t.is(await grpcInvoke(host1, CALLER_TOKEN, 'callee', 'g'), 'host2:g');
  const http = await httpInvoke(host1, CALLER_TOKEN, 'callee', 'h');
  t.is(http.status, 200, http.text);
  t.is(http.text, 'host2:h');
  t.is(await wireInvoke(host1, CALLER_TOKEN, 'callee', 'w'), 'host2:w');
  // The callee saw the verified caller, not the agent.
  t.true(calleeOn2?.received.every((inv) => inv.callerAppId === 'caller'));
});

test.serial("with two workers per host, a call reaches B whichever worker holds B's stream", async (t) => {
  const { host1, host2 } = two();
  // Fresh connections land on either worker of the host they dial.
  for (let i = 0; i < 12; i++) {
    t.is(await wireInvoke(host2, CALLER_TOKEN, 'callee', `local-${i}`), `host2:local-${i}`);
    t.is(await wireInvoke(host1, CALLER_TOKEN, 'callee', `remote-${i}`), `host2:remote-${i}`);
  }
});

test.serial('B on host 1 as well: calls from host 1 are delivered on host 1 and host 2 sees nothing', async (t) => {
  const { host1 } = two();
  const calleeOn1 = await CallbackApp.connect(sock(host1, 'callee', 'grpc'), CALLEE_TOKEN, (inv) => ({ data: Buffer.from(`host1:${inv.data.toString()}`) }));
  try {
    const before = calleeOn2?.received.length ?? 0;
    for (let i = 0; i < 10; i++) {
      t.is(await wireInvoke(host1, CALLER_TOKEN, 'callee', `${i}`), `host1:${i}`);
      t.is(await grpcInvoke(host1, CALLER_TOKEN, 'callee', `${i}`), `host1:${i}`);
      t.is((await httpInvoke(host1, CALLER_TOKEN, 'callee', `${i}`)).text, `host1:${i}`);
    }
    t.is(calleeOn2?.received.length, before);
  } finally {
    calleeOn1.close();
  }
});

test.serial('ACL and token violations are refused with coded errors and never reach B', async (t) => {
  const { host1 } = two();
  const before = calleeOn2?.received.length ?? 0;
  // stranger may call anything, but the callee accepts calls from `caller` only.
  const denied = await failure(new InvokeClient(sock(host1, 'stranger', 'grpc'), STRANGER_TOKEN).invoke({ appId: 'callee', method: 'm', data: Buffer.alloc(0) }));
  t.is(denied.hearthCode, 'HEARTH_ERR_PERMISSION_DENIED');
  const badToken = await httpInvoke(host1, 'not-the-caller-token-000', 'callee', 'x');
  t.is(badToken.code, 'HEARTH_ERR_UNAUTHENTICATED');
  const wireErr = await t.throwsAsync(wireInvoke(host1, 'not-the-caller-token-000', 'callee', 'x'));
  t.is((wireErr as { code?: string }).code, 'HEARTH_ERR_UNAUTHENTICATED');
  t.is(calleeOn2?.received.length, before);
});

test.serial('the sibling port is shared by both workers of a host (cluster primary binds once), and calls arrive through it', async (t) => {
  const { host1, host2 } = two();
  for (const h of [host1, host2]) {
    const listening = new Map<number, number>();
    for (const line of h.output().split('\n')) {
      if (!line.includes('sibling wire port listening')) continue;
      const rec = JSON.parse(line) as { pid: number; port: number };
      listening.set(rec.pid, rec.port);
    }
    t.is(listening.size, 2, 'both workers listen');
    t.is(new Set(listening.values()).size, 1, 'on the same port');
  }
  // Many fresh connections from host 1's workers to host 2's port all get answered.
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => wireInvoke(host1, CALLER_TOKEN, 'callee', `p${i}`)));
  t.deepEqual(answers, Array.from({ length: 8 }, (_, i) => `host2:p${i}`));
});

// ---- governance on one host with one worker: both instances are tier 0 of the same governor ----

async function governedHost(): Promise<HearthProcess> {
  const h = await startHearth({
    workers: 1,
    config: {
      apps: MESH_APPS,
      invoke: {
        targets: {
          callee: {
            hedge: { enabled: true, percentile: 50, minDelayMs: 20, budgetPercent: 100 },
            outlier: { consecutiveFailures: 3, ejectionMs: 600_000, maxEjectedPercent: 50 },
          },
        },
      },
    },
  });
  cleanups.push(() => h.stop());
  return h;
}

async function metric(h: HearthProcess, name: string): Promise<number> {
  const { body } = await h.admin('/metrics');
  let total = 0;
  for (const line of body.split('\n')) if (line.startsWith(`${name}{`) && line.includes('target="callee"')) total += Number(line.split(' ').pop());
  return total;
}

test.serial('a slow instance of B is hedged around: every call is answered by the fast one', async (t) => {
  const h = await governedHost();
  let slow = false;
  const fastApp = await CallbackApp.connect(sock(h, 'callee', 'grpc'), CALLEE_TOKEN, () => ({ data: Buffer.from('fast') }));
  const slowApp = await CallbackApp.connect(sock(h, 'callee', 'grpc'), CALLEE_TOKEN, async () => {
    if (slow) await sleep(3_000);
    return { data: Buffer.from('slow') };
  });
  cleanups.push(() => fastApp.close(), () => slowApp.close());
  // Latency history for the hedge delay (the tracker needs a few dozen samples).
  for (let i = 0; i < 40; i++) await grpcInvoke(h, CALLER_TOKEN, 'callee', 'warm', true);
  slow = true;
  const slowBefore = slowApp.received.length;
  // Concurrent calls spread over both instances (in-flight counts in the balancer's cost). Which
  // instance a batch tries first depends on the latency history, so batches run until the slow
  // one has been tried; every answer of every batch must still come from the fast one.
  for (let i = 0; i < 10 && slowApp.received.length === slowBefore; i++) {
    const answers = await Promise.all(Array.from({ length: 8 }, () => grpcInvoke(h, CALLER_TOKEN, 'callee', 'x', true)));
    t.deepEqual(answers, Array.from({ length: 8 }, () => 'fast'));
  }
  t.true(slowApp.received.length > slowBefore, 'the slow instance was tried');
  t.true((await metric(h, 'hearth_invoke_hedges_total')) > 0);
});

test.serial('a failing instance of B is ejected: its error count stops growing', async (t) => {
  const h = await governedHost();
  const okApp = await CallbackApp.connect(sock(h, 'callee', 'grpc'), CALLEE_TOKEN, () => ({ data: Buffer.from('ok') }));
  let failing = false;
  const badApp = await CallbackApp.connect(sock(h, 'callee', 'grpc'), CALLEE_TOKEN, () =>
    failing ? { error: { code: 'BOOM', message: 'broken' } } : { data: Buffer.from('ok') },
  );
  cleanups.push(() => okApp.close(), () => badApp.close());
  for (let i = 0; i < 20; i++) await grpcInvoke(h, CALLER_TOKEN, 'callee', 'warm');
  failing = true;
  const batch = (): Promise<unknown> => Promise.allSettled(Array.from({ length: 16 }, () => grpcInvoke(h, CALLER_TOKEN, 'callee', 'x')));
  // Concurrent batches reach the failing instance until its consecutive failures eject it (the
  // balancer's error penalty makes it a rarer pick after each failure, so this may take a while).
  for (let i = 0; i < 30 && (await metric(h, 'hearth_invoke_ejections_total')) === 0; i++) await batch();
  t.true((await metric(h, 'hearth_invoke_ejections_total')) > 0);
  const errorsAtEjection = badApp.received.length;
  for (let i = 0; i < 3; i++) await batch();
  t.is(badApp.received.length, errorsAtEjection);
  t.true(okApp.received.length > 0);
});
