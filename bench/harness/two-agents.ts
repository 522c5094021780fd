// Two "hosts" on one machine for the invoke and failover rows (issue #5): two real `hearth start`
// agents, each with its own run and state dirs, siblings of each other on loopback TLS ports (one
// throw-away CA, a cluster token between agents, no client certificates so that an SDK failing
// over can dial in with its app token). Both declare the same apps, as siblings share their
// configuration: `a` the caller (may invoke b and c), `b` whose instance runs on host 2 only, `c`
// whose instance runs on host 1 only (the local short-circuit).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../test/support/free-port.js';
import { makeTlsFiles } from '../../test/support/tls-certs.js';
import type { CleanupStack } from './cleanup-stack.js';
import { startHearth, type HearthApp, type HearthInstance } from './hearth-instance.js';
import type { ServerUnderTest } from './usage-monitor.js';

export const MESH_APPS = {
  caller: { id: 'a', token: 'bench-token-app-a-0123456789abcdef', allow: { apps: ['b', 'c', 'd'] } },
  remote: { id: 'b', token: 'bench-token-app-b-0123456789abcdef' },
  local: { id: 'c', token: 'bench-token-app-c-0123456789abcdef' },
  /** On host 2, reached through its app channel (its own HTTP server), not a callback stream. */
  channel: { id: 'd', token: 'bench-token-app-d-0123456789abcdef' },
} as const satisfies Record<string, HearthApp>;

const CLUSTER_TOKEN = 'bench-cluster-token-0123456789abcdef';

export interface TwoAgents {
  readonly host1: HearthInstance;
  readonly host2: HearthInstance;
  /** The sibling (TLS) ports, and the CA that signs both agents' certificate. */
  readonly port1: number;
  readonly port2: number;
  readonly caFile: string;
  stop(): Promise<void>;
}

/** Every process of several servers (the agents and the callee apps) in one CPU/RSS column. */
export function together(label: string, servers: readonly ServerUnderTest[]): ServerUnderTest {
  const first = servers[0];
  if (first === undefined) throw new Error('together() of nothing');
  return {
    label,
    rootPid: first.rootPid,
    pids: () => servers.flatMap((s) => s.pids()),
    workerPids: () => servers.flatMap((s) => s.workerPids()),
  };
}

export interface TwoAgentOptions {
  workers?: number;
  execArgv?: string[];
  /** Host 2 delivers app d's invocations to this address (`unix:/…`): its app channel. */
  channelOnHost2?: string;
}

export async function startTwoAgents(cleanup: CleanupStack, options: TwoAgentOptions = {}): Promise<TwoAgents> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hb-tls-'));
  const unregisterDir = cleanup.add('sibling certificates', async () => rmSync(dir, { recursive: true, force: true }));
  const { caFile, certFile, keyFile } = await makeTlsFiles(dir);
  const tls = { caFile, certFile, keyFile, requireClientCert: false, serverName: 'localhost' };
  const [port1, port2] = [await freePort(), await freePort()];
  const apps: HearthApp[] = Object.values(MESH_APPS);
  const channel = options.channelOnHost2;
  // Only host 2 holds app d's channel: host 1 reaches it through its sibling, as it reaches b.
  const appsOf = (name: string): HearthApp[] =>
    name === 'host-2' && channel !== undefined ? apps.map((a) => (a.id === MESH_APPS.channel.id ? { ...a, channel: { address: channel } } : a)) : apps;
  const agent = (name: string, port: number, peer: { name: string; port: number; apps: string[] }): Promise<HearthInstance> => startHearth(cleanup, {
    workers: options.workers,
    execArgv: options.execArgv,
    apps: appsOf(name),
    label: `${name} (ops-agent + ${options.workers ?? 2} workers)`,
    settings: {
      siblings: {
        agentId: name,
        listen: { host: '127.0.0.1', port },
        tls,
        token: CLUSTER_TOKEN,
        peers: [{ name: peer.name, host: '127.0.0.1', port: peer.port, apps: peer.apps }],
      },
    },
  });
  let host1: HearthInstance | null = null;
  try {
    host1 = await agent('host-1', port1, { name: 'host-2', port: port2, apps: [MESH_APPS.remote.id, MESH_APPS.channel.id] });
    const host2 = await agent('host-2', port2, { name: 'host-1', port: port1, apps: [MESH_APPS.local.id] });
    const h1 = host1;
    return {
      host1: h1,
      host2,
      port1,
      port2,
      caFile: tls.caFile,
      stop: async () => {
        await h1.stop();
        await host2.stop();
        unregisterDir();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await host1?.stop();
    unregisterDir();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
