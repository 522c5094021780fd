// No hop between the workers of the answering agent: host B runs two workers behind one sibling
// port (a round-robin TCP relay stands in for the cluster's shared listener, handing connections to
// each worker in turn, the first to the worker WITHOUT the callee). A call that worker w2 had to
// forward to w1 over the peer socket is answered with the hop hint (`hearth-served-by: worker`);
// host A's channel then opens its next connection, which lands on w1, and sends there from then on.
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { makeTlsFiles } from '../support/tls-certs.js';
import { CALLEE_TOKEN, CALLER_TOKEN, ok, startMeshNode, type MeshNode } from '../helpers/mesh-node.js';
import { waitFor } from '../support/wait.js';

const CLUSTER_TOKEN = 'cluster-token-0123456789abcdef0123456789';
const cleanups: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hh-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A TCP relay on a free port: connection i goes to ports[i % n]. */
async function roundRobin(ports: readonly number[]): Promise<number> {
  let next = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.createConnection({ host: '127.0.0.1', port: ports[next++ % ports.length]! });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as net.AddressInfo).port;
}

async function invokesByTier(node: MeshNode): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await node.metrics.invokes.get()).values) {
    if (v.labels.code === 'OK') out[String(v.labels.tier)] = (out[String(v.labels.tier)] ?? 0) + v.value;
  }
  return out;
}

test('calls a sibling delivered through another of its workers move to a connection that reaches the holder directly', async (t) => {
  const tls = await makeTlsFiles(await tempDir());
  const hostB = await tempDir();
  const alive = new Set<number>();
  const apps = [
    { id: 'caller', token: CALLER_TOKEN, allow: { apps: ['*'] } },
    { id: 'callee', token: CALLEE_TOKEN, allow: { callers: ['caller'] } },
  ];
  const siblingsB = { agentId: 'host-b', listen: { host: '127.0.0.1', port: 0 }, tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile }, token: CLUSTER_TOKEN };
  const w1 = await startMeshNode({ dir: hostB, pid: 201, alive, apps, siblings: siblingsB });
  cleanups.push(() => w1.close());
  const w2 = await startMeshNode({ dir: hostB, pid: 202, alive, apps, siblings: siblingsB });
  cleanups.push(() => w2.close());
  let answered = 0;
  w1.serve('callee', () => {
    answered += 1;
    return ok('w1');
  });
  const port = await roundRobin([w2.siblingPort, w1.siblingPort]);
  const a = await startMeshNode({
    dir: await tempDir(),
    pid: 101,
    alive: new Set(),
    apps,
    siblings: { agentId: 'host-a', tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile }, token: CLUSTER_TOKEN, peers: [{ name: 'host-b', host: '127.0.0.1', port, apps: ['callee'] }], poolSize: 2, connectTimeoutMs: 2_000 },
  });
  cleanups.push(() => a.close());

  // One at a time: without the hint every call reuses the first (idle) connection, i.e. w2, and hops.
  // With it the first call hops and the channel opens a second connection (to w1) in the
  // background; the calls after it go there once it is open.
  let calls = 0;
  const call = async (): Promise<void> => {
    calls += 1;
    t.is((await a.invoke({ appId: 'callee', data: Buffer.from(String(calls)) })).data.toString(), 'w1');
  };
  await call();
  t.is((await invokesByTier(w2)).worker ?? 0, 1, 'the first call went through w2 and hopped');
  await waitFor('a call answered without a hop', async () => {
    const hops = (await invokesByTier(w2)).worker ?? 0;
    await call();
    return ((await invokesByTier(w2)).worker ?? 0) === hops ? true : undefined;
  }, { timeoutMs: 20_000 });
  const hopsBefore = (await invokesByTier(w2)).worker ?? 0;
  for (let i = 0; i < 30; i++) await call();
  t.is(answered, calls);
  const viaW2 = await invokesByTier(w2);
  const direct = await invokesByTier(w1);
  t.log(`${calls} calls: w2 forwarded ${viaW2.worker ?? 0} over the peer socket (all before the second connection was open); w1 delivered ${direct.local ?? 0} itself`);
  t.is(viaW2.worker ?? 0, hopsBefore, 'once a connection reached w1, no call hopped');
  t.is(direct.local ?? 0, calls);
});
