// Sibling discovery through registry.redis against a real redis-server: host B announces the apps
// whose callback streams it holds (and withdraws them when the streams close); host A, with no
// static peers, finds B there and forwards over TLS with the cluster token.
// Its lookup cache is bounded (apps asked about once are forgotten; a cap holds meanwhile).
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { stringify as toYaml } from 'yaml';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { ComponentSet } from '../../agent/components/component-set.js';
import { registerAllComponents } from '../../agent/components/setup.js';
import { parseConfig } from '../../agent/config/load-config.js';
import { CallbackRegistry } from '../../agent/app-channel/callback-registry.js';
import { SiblingDirectory } from '../../agent/mesh/sibling-directory.js';

import { DEFAULT_APPS, ok, startMeshNode, type MeshNode } from '../helpers/mesh-node.js';
import { freePort } from '../support/free-port.js';
import { RedisServer } from '../support/redis-server.js';
import { makeTlsFiles } from '../support/tls-certs.js';
import { waitFor } from '../support/wait.js';

const CLUSTER_TOKEN = 'cluster-token-0123456789abcdef0123456789';
const silent = pino({ level: 'silent' });
const cleanups: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hr-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a host found only through registry.redis gets the call while its callee stream is open, and is withdrawn when it closes', async (t) => {
  const redis = await RedisServer.start();
  cleanups.push(() => redis.close());
  const tls = await makeTlsFiles(await tempDir());
  const registry = [{ name: 'mesh', type: 'registry.redis', metadata: { url: redis.url, ttlMs: 3_000 } }];
  // The registry publishes the advertised address, so B listens on a port chosen up front.
  const port = await freePort();
  const b2: MeshNode = await startMeshNode({
    dir: await tempDir(),
    pid: 201,
    alive: new Set(),
    components: registry,
    siblings: {
      agentId: 'host-b',
      listen: { host: '127.0.0.1', port },
      tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile },
      token: CLUSTER_TOKEN,
      registry: 'mesh',
    },
  });
  cleanups.push(() => b2.close());

  const a = await startMeshNode({
    dir: await tempDir(),
    pid: 101,
    alive: new Set(),
    components: registry,
    siblings: { agentId: 'host-a', tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile }, token: CLUSTER_TOKEN, registry: 'mesh' },
  });
  cleanups.push(() => a.close());

  const noOne = await t.throwsAsync(a.invoke({ appId: 'callee' }));
  t.is((noOne as { code?: string }).code, 'HEARTH_ERR_APP_UNAVAILABLE');

  const stream = b2.serve('callee', (inv) => ok(`b:${inv.callerAppId}`));
  // A caches lookups for a moment; the call succeeds once B's announcement is visible.
  const res = await waitFor('the call to reach host B through the registry', async () => {
    try {
      return await a.invoke({ appId: 'callee' });
    } catch {
      return undefined;
    }
  }, { timeoutMs: 15_000, everyMs: 200 });
  t.is(res.data.toString(), 'b:caller');

  // B's worker record lists the callee while the stream is open (one record per worker).
  const listed = (): string => redis.cliRaw('ZRANGE', 'hearth:registry:{mesh}:app:callee', '0', '-1').trim();
  t.is(listed(), 'host-b.w201');

  stream.close();
  await waitFor('host B withdrawn from the callee index', async () => (listed() === '' ? true : undefined), { timeoutMs: 15_000, everyMs: 100 });
  const err = await t.throwsAsync(a.invoke({ appId: 'callee' }));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_APP_UNAVAILABLE');
});

test('the registry lookup cache is bounded: apps asked about once are forgotten after the idle period, and a cap holds meanwhile', async (t) => {
  const redis = await RedisServer.start();
  cleanups.push(() => redis.close());
  const dir = await tempDir();
  const raw = { version: 1, runDir: './run', stateDir: dir, apps: DEFAULT_APPS, components: [{ name: 'mesh', type: 'registry.redis', metadata: { url: redis.url } }] };
  const config = await parseConfig(toYaml({ ...raw, siblings: { agentId: 'host-c', registry: 'mesh' } }), path.join(dir, 'hearth.yaml'));
  const factories = new ComponentRegistry();
  registerAllComponents(factories);
  const components = await ComponentSet.start(config.components, factories, { stateDir: dir, configDir: dir, limits: config.limits, logger: silent, closeTimeoutMs: 5_000 });
  cleanups.push(() => components.close());
  let now = 1_000_000;
  const directory = new SiblingDirectory({
    siblings: config.siblings,
    registry: components.registry('mesh'),
    callbacks: new CallbackRegistry(1, silent),
    pid: 301,
    logger: silent,
    cacheIdleMs: 600_000,
    cacheMax: 50,
    clock: () => now,
  });
  cleanups.push(() => directory.close());
  for (let i = 0; i < 120; i += 1) t.deepEqual(await directory.lookup(`x${i}`), []);
  t.is(directory.cachedApps, 50);
  t.false(directory.knows('x119'));

  now += 600_001;
  await directory.lookup('y');
  t.is(directory.cachedApps, 1);
});
