// An in-process agent for the gRPC tests: real embedded components (SQLite, file configuration)
// in a temp dir, the real RuntimeApi, one GrpcAppServer per app on real Unix sockets, and real
// grpc-js clients. Apps: `demo` (everything allowed) and `other` (not `private`, topics
// `orders` and `other.*` only).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DestinationStream } from 'pino';
import { AppRegistry } from '../../agent/apps/app-registry.js';
import { createRuntimeApi } from '../../agent/building-blocks/create-runtime-api.js';
import type { RuntimeApi } from '../../agent/building-blocks/runtime-api.js';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { ComponentSet } from '../../agent/components/component-set.js';
import { registerEmbeddedComponents } from '../../agent/components/setup.js';
import type { LimitsConfig, PubsubDefaults } from '../../agent/config/config-schema.js';
import { parseConfig, type HearthConfig } from '../../agent/config/load-config.js';
import { createLogger } from '../../agent/observability/logger.js';
import { AgentMetrics } from '../../agent/observability/metrics.js';
import { GrpcAppServer } from '../../agent/transports/grpc/grpc-app-server.js';
import { createGrpcClients, type GrpcClients } from './grpc-client.js';

export const DEMO_TOKEN = 'demo-token-0123456789';
export const OTHER_TOKEN = 'other-token-9876543210';

export interface RuntimeApp {
  readonly id: string;
  readonly token: string;
  readonly socket: string;
  readonly server: GrpcAppServer;
  /** Clients carrying the app's token; closed by close(). */
  readonly clients: GrpcClients;
}

export interface RuntimeOptions {
  readonly limits?: Partial<LimitsConfig>;
  readonly pubsub?: Partial<PubsubDefaults>;
  /** Initial content of the `appconfig` store's YAML file. */
  readonly configurationItems?: string;
}

export interface InProcessRuntime {
  readonly dir: string;
  readonly config: HearthConfig;
  readonly api: RuntimeApi;
  readonly metrics: AgentMetrics;
  readonly configurationFile: string;
  readonly demo: RuntimeApp;
  readonly other: RuntimeApp;
  /** Every log line so far (JSON text). */
  logText(): string;
  /** More clients for a socket, e.g. with another app's token or none; closed by close(). */
  clients(socket: string, token?: string): GrpcClients;
  /** Starts another server for an app (as the next generation would), e.g. after closing one. */
  startServer(appId: string): Promise<GrpcAppServer>;
  close(): Promise<void>;
}

const DEFAULT_ITEMS = 'greeting: hello\nfeature:\n  value: "on"\n  version: "7"\n  metadata:\n    owner: ops\n';

export async function startInProcessRuntime(options: RuntimeOptions = {}): Promise<InProcessRuntime> {
  // Short: socket paths must fit sun_path (~107 bytes).
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hx-'));
  const cleanups: (() => Promise<void> | void)[] = [() => rm(dir, { recursive: true, force: true })];
  const close = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {
        // best effort: keep cleaning up
      }
    }
  };
  try {
    const configurationFile = path.join(dir, 'items.yaml');
    await writeFile(configurationFile, options.configurationItems ?? DEFAULT_ITEMS);
    const config = await parseConfig(configYaml(dir, options), path.join(dir, 'hearth.yaml'));

    const lines: string[] = [];
    const destination: DestinationStream = { write: (s: string) => void lines.push(s) };
    const logger = createLogger({ level: 'debug', destination });

    const registry = new ComponentRegistry();
    registerEmbeddedComponents(registry);
    const components = await ComponentSet.start(config.components, registry, {
      stateDir: config.stateDir,
      configDir: dir,
      limits: config.limits,
      logger,
      closeTimeoutMs: 5000,
    });
    cleanups.push(() => components.close());

    const api = createRuntimeApi({ components, config, version: '0.0.0-test', generation: 3 });
    const metrics = new AgentMetrics();
    const apps = new AppRegistry(config.apps);
    const made: GrpcClients[] = [];
    cleanups.push(() => made.forEach((c) => c.close()));
    const clients = (socket: string, token?: string): GrpcClients => {
      const c = createGrpcClients(socket, token);
      made.push(c);
      return c;
    };

    const startServer = async (appId: string): Promise<GrpcAppServer> => {
      const server = new GrpcAppServer({ app: apps.require(appId), apps, api, metrics, logger, limits: config.limits });
      cleanups.push(() => server.close(1000));
      await server.start();
      return server;
    };

    const started: Record<string, RuntimeApp> = {};
    for (const app of config.apps) {
      const server = await startServer(app.id);
      const token = app.id === 'demo' ? DEMO_TOKEN : OTHER_TOKEN;
      started[app.id] = { id: app.id, token, socket: app.grpcSocket, server, clients: clients(app.grpcSocket, token) };
    }
    return {
      dir,
      config,
      api,
      metrics,
      configurationFile,
      demo: started.demo!,
      other: started.other!,
      logText: () => lines.join(''),
      clients,
      startServer,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function configYaml(dir: string, options: RuntimeOptions): string {
  const section = (name: string, values: object | undefined): string => {
    const body = Object.entries(values ?? {})
      .map(([k, v]) => `  ${k}: ${String(v)}\n`)
      .join('');
    return body ? `${name}:\n${body}` : '';
  };
  return `version: 1
runDir: ${dir}/run
stateDir: ${dir}/state
${section('limits', options.limits)}${section('pubsub', options.pubsub)}apps:
  - id: demo
    token: ${DEMO_TOKEN}
    allow: { components: ['*'], topics: ['*'], apps: ['*'] }
  - id: other
    token: ${OTHER_TOKEN}
    allow:
      components: [statestore, shared, pubsub, lockstore, sequencer, appconfig]
      topics: ['orders', 'other.*']
components:
  - { name: statestore, type: state.sqlite }
  - { name: private, type: state.sqlite }
  - { name: shared, type: state.sqlite, shared: true }
  - { name: pubsub, type: pubsub.sqlite, metadata: { pollIntervalMs: 10 } }
  - { name: lockstore, type: lock.sqlite }
  - { name: sequencer, type: sequencer.sqlite }
  - { name: appconfig, type: configuration.file, metadata: { path: ${dir}/items.yaml, pollIntervalMs: 100 } }
`;
}
