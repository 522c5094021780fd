// The core the in-process harnesses (in-process-grpc.ts, in-process-http.ts) build on: real
// embedded components (SQLite, file configuration) in a temp dir and the real RuntimeApi, with no
// transport. Apps: `demo` (everything allowed) and `other` (not `private`, topics `orders` and
// `other.*` only).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DestinationStream, Logger } from 'pino';
import { AppQuotas } from '../../agent/apps/app-quotas.js';
import { AppRegistry } from '../../agent/apps/app-registry.js';
import { localDelivery } from '../../agent/app-channel/local-router.js';
import { createRuntimeApi } from '../../agent/building-blocks/create-runtime-api.js';
import type { RuntimeApi } from '../../agent/building-blocks/runtime-api.js';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { ComponentSet } from '../../agent/components/component-set.js';
import { registerEmbeddedComponents } from '../../agent/components/setup.js';
import type { AppAllowConfig, LimitsConfig, PubsubDefaults, QuotaConfig } from '../../agent/config/config-schema.js';
import { parseConfig, type AppConfig, type HearthConfig } from '../../agent/config/load-config.js';
import { createLogger } from '../../agent/observability/logger.js';
import { AgentMetrics } from '../../agent/observability/metrics.js';
import type { TransportDeps } from '../../agent/transports/transport-deps.js';

export const DEMO_TOKEN = 'demo-token-0123456789';
export const OTHER_TOKEN = 'other-token-9876543210';

export interface RuntimeOptions {
  readonly limits?: Partial<LimitsConfig>;
  readonly pubsub?: Partial<PubsubDefaults>;
  /** Initial content of the `appconfig` store's YAML file. */
  readonly configurationItems?: string;
  /** Apps declared after `demo` and `other` (each gets a server like them). */
  readonly apps?: readonly ExtraApp[];
  /** The `invoke` section of the configuration, as is. */
  readonly invoke?: object;
  /** Give the transports a real AppQuotas (RuntimeCore.quotas); off by default. */
  readonly quotas?: boolean;
}

export interface ExtraApp {
  readonly id: string;
  readonly token: string;
  readonly allow?: Partial<AppAllowConfig>;
  readonly quota?: Partial<QuotaConfig>;
}

/** What every harness exposes, whatever its transport. */
export interface InProcessBase {
  readonly dir: string;
  readonly config: HearthConfig;
  readonly api: RuntimeApi;
  readonly metrics: AgentMetrics;
  /** The file behind the `appconfig` configuration store. */
  readonly configurationFile: string;
  /** Every log line written so far (JSON text), for redaction checks. */
  logText(): string;
  /** Runs every cleanup, last registered first, best effort. */
  close(): Promise<void>;
}

/** The core a transport harness builds on. */
export interface RuntimeCore extends InProcessBase {
  readonly apps: AppRegistry;
  readonly logger: Logger;
  /** Present when started with `quotas: true`; every transport of this core shares it. */
  readonly quotas: AppQuotas | undefined;
  /** What a transport server of `appId` is built with. */
  transportDeps(appId: string): TransportDeps;
  /** Registers a cleanup for close(). */
  defer(cleanup: () => Promise<void> | void): void;
}

/** What the transports' harnesses set differently. */
export interface CoreSettings {
  readonly logLevel: string;
  /** The generation the RuntimeApi reports. */
  readonly generation: number;
}

const DEFAULT_ITEMS = 'greeting: hello\nfeature:\n  value: "on"\n  version: "7"\n  metadata:\n    owner: ops\n';

export async function startRuntimeCore(options: RuntimeOptions, settings: CoreSettings): Promise<RuntimeCore> {
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
    const logger = createLogger({ level: settings.logLevel, destination });

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

    const api = createRuntimeApi({ components, config, version: '0.0.0-test', generation: settings.generation, ...localDelivery(config.invoke.callbackConcurrency, logger) });
    const metrics = new AgentMetrics();
    const apps = new AppRegistry(config.apps);
    const quotas = options.quotas === true ? new AppQuotas() : undefined;
    return {
      dir,
      config,
      api,
      metrics,
      apps,
      logger,
      quotas,
      transportDeps: (appId) => ({ app: apps.require(appId), apps, api, metrics, logger, limits: config.limits, quotas }),
      configurationFile,
      logText: () => lines.join(''),
      defer: (cleanup) => void cleanups.push(cleanup),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Starts one thing per app (`start` gets the app and its token), in config order; on a failure
 * closes the core (and what was started) before rethrowing. `byId` holds every app's, extra apps too.
 */
export async function startApps<App>(
  core: RuntimeCore,
  start: (app: AppConfig, token: string) => Promise<App>,
  extra: readonly ExtraApp[] = [],
): Promise<{ readonly demo: App; readonly other: App; readonly byId: Readonly<Record<string, App>> }> {
  try {
    const started: Record<string, App> = {};
    const tokens = new Map<string, string>([['demo', DEMO_TOKEN], ['other', OTHER_TOKEN], ...extra.map((a) => [a.id, a.token] as const)]);
    for (const app of core.config.apps) started[app.id] = await start(app, tokens.get(app.id) ?? OTHER_TOKEN);
    return { demo: started.demo!, other: started.other!, byId: started };
  } catch (err) {
    await core.close();
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
  // JSON is YAML flow syntax: extra apps and the invoke section go in as JSON.
  const extraApps = (options.apps ?? [])
    .map((a) => {
      const allow = { components: ['*'], topics: ['*'], ...a.allow };
      return `  - { id: ${a.id}, token: ${a.token}, allow: ${JSON.stringify(allow)}${a.quota ? `, quota: ${JSON.stringify(a.quota)}` : ''} }\n`;
    })
    .join('');
  const invoke = options.invoke ? `invoke: ${JSON.stringify(options.invoke)}\n` : '';
  return `version: 1
runDir: ${dir}/run
stateDir: ${dir}/state
${section('limits', options.limits)}${section('pubsub', options.pubsub)}${invoke}apps:
  - id: demo
    token: ${DEMO_TOKEN}
    allow: { components: ['*'], topics: ['*'], apps: ['*'] }
  - id: other
    token: ${OTHER_TOKEN}
    allow:
      components: [statestore, shared, pubsub, lockstore, sequencer, appconfig]
      topics: ['orders', 'other.*']
${extraApps}components:
  - { name: statestore, type: state.sqlite }
  - { name: private, type: state.sqlite }
  - { name: shared, type: state.sqlite, shared: true }
  - { name: pubsub, type: pubsub.sqlite, metadata: { pollIntervalMs: 10 } }
  - { name: lockstore, type: lock.sqlite }
  - { name: sequencer, type: sequencer.sqlite }
  - { name: appconfig, type: configuration.file, metadata: { path: ${dir}/items.yaml, pollIntervalMs: 100 } }
`;
}
