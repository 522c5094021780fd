// One agent worker's invoke half, in process: the real configuration parser, components, RuntimeApi,
// CallbackRegistry and mesh (startMesh, as `hearth start` builds it), with its real PeerWireServer
// on <runDir>/workers/<pid>.sock and, when siblings.listen is set, its real SiblingWireServer (TLS).
// Several nodes sharing a runDir are the workers of one host; nodes with their own runDirs are
// hosts. Apps: `caller` (may invoke anything), `callee`, `stranger`; `apps` overrides them.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { stringify as toYaml } from 'yaml';
import type { CallContext, CallbackInvocation, CallbackOutcome, CallbackRegistration, InvokeParams, InvokeResult, RuntimeApi } from '../../agent/building-blocks/runtime-api.js';
import { createRuntimeApi } from '../../agent/building-blocks/create-runtime-api.js';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { ComponentSet } from '../../agent/components/component-set.js';
import { registerAllComponents } from '../../agent/components/setup.js';
import { parseConfig, type HearthConfig } from '../../agent/config/load-config.js';
import { CallbackRegistry } from '../../agent/app-channel/callback-registry.js';
import { startMesh, type Mesh } from '../../agent/mesh/mesh-setup.js';
import { AgentMetrics } from '../../agent/observability/metrics.js';
import { AppRegistry } from '../../agent/apps/app-registry.js';
import { PeerWireServer } from '../../agent/mesh/peer-wire-server.js';
import { SiblingWireServer } from '../../agent/mesh/sibling-wire-server.js';

// Tokens used on the sibling port have at least 32 characters (MIN_NETWORK_TOKEN_CHARS).
export const CALLER_TOKEN = 'caller-token-0123456789abcdef0123456789';
export const CALLEE_TOKEN = 'callee-token-0123456789abcdef0123456789';
export const STRANGER_TOKEN = 'stranger-token-0123456789abcdef0123456789';

export const DEFAULT_APPS = [
  { id: 'caller', token: CALLER_TOKEN, allow: { apps: ['*'] } },
  { id: 'callee', token: CALLEE_TOKEN },
  { id: 'stranger', token: STRANGER_TOKEN, allow: { apps: ['*'] } },
];

export interface MeshNodeOptions {
  /** The host's directory: runDir is `<dir>/run`, each node's state `<dir>/state-<pid>`. */
  readonly dir: string;
  /** Stands for the worker's pid (names its peer socket). */
  readonly pid: number;
  /** The pids "alive" on this host (shared by its nodes). */
  readonly alive: Set<number>;
  readonly siblings?: Record<string, unknown>;
  readonly apps?: readonly Record<string, unknown>[];
  readonly components?: readonly Record<string, unknown>[];
  readonly invoke?: Record<string, unknown>;
}

export type TestHandler = (inv: CallbackInvocation) => Promise<CallbackOutcome> | CallbackOutcome;

export interface MeshNode {
  readonly pid: number;
  readonly config: HearthConfig;
  readonly api: RuntimeApi;
  readonly callbacks: CallbackRegistry;
  readonly mesh: Mesh;
  readonly metrics: AgentMetrics;
  /** The bound sibling port (0 when siblings.listen is not set). */
  readonly siblingPort: number;
  /** Opens a callback "stream" of `appId` on this node, answered by `handler`. */
  serve(appId: string, handler: TestHandler, maxConcurrency?: number): CallbackRegistration;
  /** `caller` (or `as`) invokes through this node, as an app's own call. */
  invoke(params: Partial<InvokeParams> & { appId: string }, options?: { as?: string; budgetMs?: number }): Promise<InvokeResult>;
  close(): Promise<void>;
}

const silent: Logger = pino({ level: 'silent' });

export function ok(data: string): CallbackOutcome {
  return { ok: true, result: { data: Buffer.from(data), contentType: 'text/plain', metadata: {} } };
}

export async function startMeshNode(o: MeshNodeOptions): Promise<MeshNode> {
  const stateDir = path.join(o.dir, `state-${o.pid}`);
  await mkdir(stateDir, { recursive: true });
  const raw = {
    version: 1,
    runDir: './run',
    stateDir,
    apps: o.apps ?? DEFAULT_APPS,
    components: o.components ?? [],
    ...(o.invoke === undefined ? {} : { invoke: o.invoke }),
    ...(o.siblings === undefined ? {} : { siblings: o.siblings }),
  };
  const config = await parseConfig(toYaml(raw), path.join(o.dir, `hearth-${o.pid}.yaml`));
  const logger = silent;
  const registry = new ComponentRegistry();
  registerAllComponents(registry);
  const components = await ComponentSet.start(config.components, registry, {
    stateDir,
    configDir: o.dir,
    limits: config.limits,
    logger,
    closeTimeoutMs: 5000,
  });
  const metrics = new AgentMetrics();
  const callbacks = new CallbackRegistry(config.invoke.callbackConcurrency, logger);
  const regName = config.siblings.registry;
  const mesh = await startMesh({
    config,
    callbacks,
    metrics,
    logger,
    pid: o.pid,
    isAlive: (pid) => o.alive.has(pid),
    registry: regName === undefined ? undefined : components.registry(regName),
  });
  const api = createRuntimeApi({ components, config, version: '0.0.0-test', generation: 1, callbacks, router: mesh.router });
  const apps = new AppRegistry(config.apps);
  const peerServer = new PeerWireServer({ path: mesh.peers.socketPath, api, metrics, logger, limits: config.limits });
  await peerServer.start();
  o.alive.add(o.pid);
  let siblingServer: SiblingWireServer | undefined;
  if (config.siblings.listen !== undefined) {
    siblingServer = new SiblingWireServer({ apps, api, metrics, logger, limits: config.limits, siblings: config.siblings });
    await siblingServer.start();
  }
  const ctx = (appId: string, budgetMs?: number): CallContext => ({
    app: apps.require(appId),
    requestId: `req-${Math.random().toString(36).slice(2)}`,
    transport: 'wire',
    logger,
    ...(budgetMs === undefined ? {} : { deadline: Date.now() + budgetMs }),
  });
  const registrations: CallbackRegistration[] = [];
  return {
    pid: o.pid,
    config,
    api,
    callbacks,
    mesh,
    metrics,
    siblingPort: siblingServer?.port ?? 0,
    serve(appId, handler, maxConcurrency) {
      const box: { reg?: CallbackRegistration } = {};
      const reg = api.invoke.registerCallback(
        ctx(appId),
        {
          push: (inv) => {
            void Promise.resolve()
              .then(() => handler(inv))
              .then(
                (outcome) => box.reg?.complete(inv.id, outcome),
                (err: unknown) => box.reg?.complete(inv.id, { ok: false, code: 'HANDLER', message: String(err) }),
              );
          },
        },
        { maxConcurrency },
      );
      box.reg = reg;
      registrations.push(reg);
      return reg;
    },
    invoke(params, options = {}) {
      return api.invoke.invoke(ctx(options.as ?? 'caller', options.budgetMs), { method: 'echo', data: Buffer.from('ping'), ...params });
    },
    async close() {
      o.alive.delete(o.pid);
      for (const r of registrations) r.close();
      await siblingServer?.close(1000);
      await peerServer.close(1000);
      await mesh.router.close();
      await components.close();
    },
  };
}
