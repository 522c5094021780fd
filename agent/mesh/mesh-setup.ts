// Builds the invoke mesh of one worker from its configuration: the peer-worker directory, the
// sibling directory and pool (when siblings are configured) and the MeshRouter over them
// (startMesh), then the servers other agents and workers reach it on (startMeshServers). The
// worker runtime and the in-process tests build it through these functions, so what the tests
// exercise is what `hearth start` runs.
import type { Logger } from 'pino';
import type { ServiceRegistry } from '../components/service-registry.js';
import type { HearthConfig } from '../config/load-config.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { HEADER_ALLOWANCE_BYTES, WireConnection } from '@hearth/protocol';
import type { CallbackRegistry } from '../app-channel/callback-registry.js';
import type { AppBudgets } from '../apps/app-budgets.js';
import type { AppRegistry } from '../apps/app-registry.js';
import type { RuntimeApi } from '../building-blocks/runtime-api.js';
import type { AppServer, QuotaGate } from '../transports/transport-deps.js';
import { PeerWireServer } from './peer-wire-server.js';
import { SiblingWireServer } from './sibling-wire-server.js';
import { MeshRouter } from './mesh-router.js';
import { PeerWorkers } from './peer-workers.js';
import { SiblingDirectory } from './sibling-directory.js';
import { SiblingPool } from './sibling-pool.js';
import { WireChannel } from './wire-channel.js';

/** Connecting to another worker's socket on this host: refused at once or not at all. */
const PEER_CONNECT_TIMEOUT_MS = 1_000;

export interface MeshSetupOptions {
  readonly config: HearthConfig;
  readonly callbacks: CallbackRegistry;
  readonly metrics?: AgentMetrics | undefined;
  readonly logger: Logger;
  /** This worker's pid: names its peer socket and its registry record. */
  readonly pid: number;
  /** The component siblings.registry names, when it does. */
  readonly registry?: ServiceRegistry | undefined;
  /** For tests that run several "workers" in one process. */
  readonly isAlive?: (pid: number) => boolean;
}

/** What the mesh servers serve and account to. */
export interface MeshServerDeps {
  readonly config: HearthConfig;
  readonly peers: PeerWorkers;
  readonly api: RuntimeApi;
  readonly apps: AppRegistry;
  readonly metrics: AgentMetrics;
  readonly quotas?: QuotaGate | undefined;
  readonly budgets?: AppBudgets | undefined;
  readonly logger: Logger;
}

/**
 * The peer-worker socket (exclusive: only this worker accepts on it) and, when configured, the
 * sibling port (TCP: shared through the cluster primary like the app sockets, so every worker of
 * every generation accepts on it). Each server is handed to `started` before it starts, so a
 * caller that must close it after a failed start has it.
 */
export async function startMeshServers(d: MeshServerDeps, started: (server: AppServer) => void): Promise<void> {
  const peer = new PeerWireServer({ path: d.peers.socketPath, api: d.api, metrics: d.metrics, logger: d.logger, limits: d.config.limits });
  started(peer);
  await peer.start();
  if (d.config.siblings.listen !== undefined) {
    const sibling = new SiblingWireServer({ apps: d.apps, api: d.api, metrics: d.metrics, logger: d.logger, limits: d.config.limits, quotas: d.quotas, budgets: d.budgets, siblings: d.config.siblings, idleTimeoutMs: d.config.budgets.idleTimeoutMs });
    started(sibling);
    await sibling.start();
  }
}

export interface Mesh {
  readonly router: MeshRouter;
  /** Its `socketPath` is where this worker's PeerWireServer listens. */
  readonly peers: PeerWorkers;
}

/** Prepares the workers directory, reads it once, announces in the registry; the caller starts the servers. */
export async function startMesh(o: MeshSetupOptions): Promise<Mesh> {
  const log = o.logger.child({ component: 'invoke' });
  const { config, metrics } = o;
  const agentId = config.siblings.agentId;
  const maxFrameBytes = config.limits.maxBodyBytes + HEADER_ALLOWANCE_BYTES;
  const peers = new PeerWorkers({
    runDir: config.runDir,
    pid: o.pid,
    logger: log,
    ...(o.isAlive === undefined ? {} : { isAlive: o.isAlive }),
    connect: (socketPath, pid) =>
      new WireChannel({
        name: `worker:${pid}`,
        size: 1,
        agentId,
        logger: log,
        onConnections: (d) => metrics?.meshConnections.inc({ kind: 'worker' }, d),
        connect: () => WireConnection.connect({ endpoint: { path: socketPath }, connectTimeoutMs: PEER_CONNECT_TIMEOUT_MS, maxFrameBytes, logger: log.child({ channel: `worker:${pid}` }) }),
      }),
  });
  await peers.prepare();
  // Before the first stream can open: the other workers forward only apps we publish.
  peers.publishApps([]);
  o.callbacks.onChange(() => peers.publishApps(o.callbacks.apps()));
  await peers.start();
  let siblings: { directory: SiblingDirectory; pool: SiblingPool } | undefined;
  const s = config.siblings;
  if (s.peers.length > 0 || o.registry !== undefined) {
    const directory = new SiblingDirectory({ siblings: s, registry: o.registry, callbacks: o.callbacks, pid: o.pid, logger: log });
    siblings = { directory, pool: new SiblingPool({ siblings: s, maxFrameBytes, metrics, logger: log }) };
    await directory.start();
  }
  const declaredApps = config.apps.map((a) => a.id);
  return { router: new MeshRouter({ callbacks: o.callbacks, peers, siblings, metrics, logger: log, declaredApps }), peers };
}
