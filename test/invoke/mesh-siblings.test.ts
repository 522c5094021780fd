// Forwarding between agents, in process: host A (no instance of the callee) forwards to host B's
// real SiblingWireServer over real TLS (certificates made with openssl at test time), proving it
// is an agent by the cluster token (a client certificate under mutual TLS only lets it connect). B enforces the
// callee's allow.callers with the caller identity A forwarded.
import test from 'ava';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CallbackInvocation } from '../../agent/building-blocks/runtime-api.js';
import { makeTlsFiles, type TlsFiles } from '../support/tls-certs.js';
import { CALLEE_TOKEN, CALLER_TOKEN, ok, startMeshNode, STRANGER_TOKEN, type MeshNode } from '../helpers/mesh-node.js';

const CLUSTER_TOKEN = 'cluster-token-0123456789abcdef0123456789';
const cleanups: (() => Promise<unknown>)[] = [];
let tlsFiles: TlsFiles | undefined;

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hs-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  tlsFiles = await makeTlsFiles(dir);
});

test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function certs(): TlsFiles {
  if (tlsFiles === undefined) throw new Error('certificates not made');
  return tlsFiles;
}

/** On host B the callee accepts only `caller`; host A declares it open to all (siblings may differ). */
const B_APPS = [
  { id: 'caller', token: CALLER_TOKEN, allow: { apps: ['*'] } },
  { id: 'callee', token: CALLEE_TOKEN, allow: { callers: ['caller'] } },
  { id: 'stranger', token: STRANGER_TOKEN, allow: { apps: ['*'] } },
];

interface Hosts {
  readonly a: MeshNode;
  readonly b: MeshNode;
  readonly seen: CallbackInvocation[];
}

async function hostDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hs-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await mkdir(dir, { recursive: true });
  return dir;
}

async function twoHosts(mode: { mtls: boolean; aToken?: string | undefined; aCert?: 'agent' | 'stranger' }): Promise<Hosts> {
  const c = certs();
  const serverTls = { certFile: c.certFile, keyFile: c.keyFile, caFile: c.caFile, requireClientCert: mode.mtls };
  const b = await startMeshNode({
    dir: await hostDir(),
    pid: 201,
    alive: new Set(),
    apps: B_APPS,
    // A listener always has the cluster token: it alone makes a caller an agent.
    siblings: { agentId: 'host-b', listen: { host: '127.0.0.1', port: 0 }, tls: serverTls, token: CLUSTER_TOKEN },
  });
  cleanups.push(() => b.close());
  const seen: CallbackInvocation[] = [];
  b.serve('callee', (inv) => {
    seen.push(inv);
    return ok(`b:${inv.callerAppId}`);
  });
  const clientCert = mode.aCert === 'stranger' ? { certFile: c.strangerCertFile, keyFile: c.strangerKeyFile } : { certFile: c.certFile, keyFile: c.keyFile };
  const a = await startMeshNode({
    dir: await hostDir(),
    pid: 101,
    alive: new Set(),
    siblings: {
      agentId: 'host-a',
      tls: { ...clientCert, caFile: c.caFile },
      ...(mode.aToken === undefined ? {} : { token: mode.aToken }),
      peers: [{ name: 'host-b', host: '127.0.0.1', port: b.siblingPort }],
      connectTimeoutMs: 2_000,
    },
  });
  cleanups.push(() => a.close());
  return { a, b, seen };
}

const codeOf = (err: unknown): string | undefined => (err as { code?: string } | undefined)?.code;

test('over TLS with the cluster token: a call with no local instance reaches the sibling, which sees the forwarded caller', async (t) => {
  const { a, seen } = await twoHosts({ mtls: false, aToken: CLUSTER_TOKEN });
  const res = await a.invoke({ appId: 'callee', method: 'greet', data: Buffer.from('hi') });
  t.is(res.data.toString(), 'b:caller');
  t.is(seen.length, 1);
  t.is(seen[0]?.method, 'greet');
  t.is(seen[0]?.data.toString(), 'hi');
});

test('over mutual TLS with the cluster token: the call is forwarded', async (t) => {
  const { a, seen } = await twoHosts({ mtls: true, aToken: CLUSTER_TOKEN });
  t.is((await a.invoke({ appId: 'callee' })).data.toString(), 'b:caller');
  t.is(seen.length, 1);
});

test('under mutual TLS, a CA-signed client certificate without the cluster token gets no agent rights: HEARTH_ERR_UNAUTHENTICATED and the callee sees nothing', async (t) => {
  const { a, seen } = await twoHosts({ mtls: true });
  const err = await t.throwsAsync(a.invoke({ appId: 'callee' }));
  t.is(codeOf(err), 'HEARTH_ERR_UNAUTHENTICATED');
  t.is(seen.length, 0);
});

test('a wrong cluster token is refused with HEARTH_ERR_UNAUTHENTICATED and the callee sees nothing', async (t) => {
  const { a, seen } = await twoHosts({ mtls: false, aToken: 'not-the-cluster-token-0123456789abcdef' });
  const err = await t.throwsAsync(a.invoke({ appId: 'callee' }));
  t.is(codeOf(err), 'HEARTH_ERR_UNAUTHENTICATED');
  t.is(seen.length, 0);
});

test('under mutual TLS, a certificate from another CA never gets a connection: the caller gets HEARTH_ERR_APP_UNAVAILABLE, never the SDK-facing AGENT_UNAVAILABLE', async (t) => {
  const { a, seen } = await twoHosts({ mtls: true, aCert: 'stranger' });
  const err = await t.throwsAsync(a.invoke({ appId: 'callee' }));
  t.is(codeOf(err), 'HEARTH_ERR_APP_UNAVAILABLE');
  t.is(seen.length, 0);
});

test("the receiving agent enforces the target's allow.callers with the forwarded caller identity", async (t) => {
  const { a, seen } = await twoHosts({ mtls: false, aToken: CLUSTER_TOKEN });
  // Host A lets anyone call the callee; host B does not let `stranger`.
  const err = await t.throwsAsync(a.invoke({ appId: 'callee' }, { as: 'stranger' }));
  t.is(codeOf(err), 'HEARTH_ERR_PERMISSION_DENIED');
  t.is(seen.length, 0);
  t.is((await a.invoke({ appId: 'callee' })).data.toString(), 'b:caller');
});

test('the deadline budget shrinks across the hop and reaches the callee on the other host', async (t) => {
  const { a, seen } = await twoHosts({ mtls: false, aToken: CLUSTER_TOKEN });
  await a.invoke({ appId: 'callee' }, { budgetMs: 4_000 });
  const budget = seen[0]?.deadlineMs ?? -1;
  t.true(budget > 0 && budget <= 4_000, `budget ${budget}`);
});

test('a sibling with no instance of the target answers HEARTH_ERR_APP_UNAVAILABLE', async (t) => {
  const { a } = await twoHosts({ mtls: false, aToken: CLUSTER_TOKEN });
  const err = await t.throwsAsync(a.invoke({ appId: 'stranger' }));
  t.is(codeOf(err), 'HEARTH_ERR_APP_UNAVAILABLE');
});
