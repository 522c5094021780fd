// An in-process agent for the HTTP tests: real embedded components (SQLite, file configuration)
// in a temp state dir, the real RuntimeApi, and one HttpAppServer per app on real Unix sockets.
// Apps: `demo` (everything allowed) and `other` (not allowed `private` nor topic `secret.*`).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
import { HttpAppServer } from '../../agent/transports/http/http-app-server.js';
import { HttpClient } from './http-client.js';

export const DEMO_TOKEN = 'demo-token-0123456789';
export const OTHER_TOKEN = 'other-token-9876543210';

export interface HarnessApp {
  readonly id: string;
  readonly token: string;
  readonly socket: string;
  readonly server: HttpAppServer;
  /** A keep-alive client with the app's token; closed by harness.close(). */
  readonly client: HttpClient;
}

export interface HttpHarnessOptions {
  readonly limits?: Partial<LimitsConfig>;
  readonly pubsub?: Partial<PubsubDefaults>;
  /** Initial content of the configuration store's YAML file. */
  readonly configurationItems?: string;
}

export interface HttpHarness {
  readonly dir: string;
  readonly config: HearthConfig;
  readonly api: RuntimeApi;
  readonly metrics: AgentMetrics;
  /** The file behind the `appconfig` configuration store. */
  readonly configurationFile: string;
  readonly demo: HarnessApp;
  readonly other: HarnessApp;
  /** Every log line written so far (JSON text), for redaction checks. */
  logText(): string;
  /** Another client for an app's socket (closed by harness.close()). */
  client(socket: string, token?: string, keepAlive?: boolean): HttpClient;
  close(): Promise<void>;
}

const DEFAULT_ITEMS = 'greeting: hello\nfeature:\n  value: "on"\n  version: "7"\n  metadata:\n    owner: ops\n';

export async function startHttpHarness(options: HttpHarnessOptions = {}): Promise<HttpHarness> {
  // Short: socket paths must fit sun_path (~107 bytes).
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hx-'));
  const cleanups: (() => Promise<void> | void)[] = [() => rm(dir, { recursive: true, force: true })];
  const runCleanups = async (): Promise<void> => {
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
    for (const app of config.apps) await mkdir(app.socketDir, { recursive: true });

    const lines: string[] = [];
    const destination: DestinationStream = { write: (s: string) => void lines.push(s) };
    const logger = createLogger({ level: 'trace', destination });

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

    const api = createRuntimeApi({ components, config, version: '0.0.0-test', generation: 1 });
    const metrics = new AgentMetrics();
    const apps = new AppRegistry(config.apps);
    const clients: HttpClient[] = [];
    cleanups.push(() => clients.forEach((c) => c.close()));
    const client = (socket: string, token?: string, keepAlive = true): HttpClient => {
      const c = new HttpClient(socket, { ...(token !== undefined ? { token } : {}), keepAlive });
      clients.push(c);
      return c;
    };

    const started: Record<string, HarnessApp> = {};
    for (const app of config.apps) {
      const server = new HttpAppServer({ app, apps, api, metrics, logger, limits: config.limits });
      cleanups.push(() => server.close(2000));
      await server.start();
      const token = app.id === 'demo' ? DEMO_TOKEN : OTHER_TOKEN;
      started[app.id] = { id: app.id, token, socket: app.httpSocket, server, client: client(app.httpSocket, token) };
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
      client,
      close: runCleanups,
    };
  } catch (err) {
    await runCleanups();
    throw err;
  }
}

function configYaml(dir: string, options: HttpHarnessOptions): string {
  const limits = Object.entries(options.limits ?? {})
    .map(([k, v]) => `  ${k}: ${v}\n`)
    .join('');
  const pubsub = Object.entries(options.pubsub ?? {})
    .map(([k, v]) => `  ${k}: ${v}\n`)
    .join('');
  return `version: 1
runDir: ${dir}/run
stateDir: ${dir}/state
${limits ? `limits:\n${limits}` : ''}${pubsub ? `pubsub:\n${pubsub}` : ''}apps:
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
