// An in-process agent for the transport tests: real embedded components (SQLite, file
// configuration) in a temp dir, the real RuntimeApi, and for every app the transports a test asks
// for, each a real server on the app's Unix socket: gRPC (with grpc-js clients carrying the app's
// token), HTTP (with a keep-alive client) and wire (tests open raw frame clients with connect()).
// On demand: another server of an app (as the next generation would), the TLS sibling port and a
// worker's peer socket. Apps: `demo` (everything allowed) and `other` (not `private`, topics
// `orders` and `other.*` only), then `apps`.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DestinationStream, Logger } from 'pino';
import { AppQuotas } from '../../agent/apps/app-quotas.js';
import { AppRegistry } from '../../agent/apps/app-registry.js';
import type { CallbackRegistry } from '../../agent/app-channel/callback-registry.js';
import { localDelivery } from '../../agent/app-channel/local-router.js';
import { createRuntimeApi } from '../../agent/building-blocks/create-runtime-api.js';
import type { RuntimeApi } from '../../agent/building-blocks/runtime-api.js';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { ComponentSet } from '../../agent/components/component-set.js';
import { registerEmbeddedComponents } from '../../agent/components/setup.js';
import type { AppAllowConfig, LimitsConfig, PubsubDefaults, QuotaConfig } from '../../agent/config/config-schema.js';
import { parseConfig, type AppConfig, type HearthConfig } from '../../agent/config/load-config.js';
import { PeerWireServer } from '../../agent/mesh/peer-wire-server.js';
import { SiblingWireServer, type SiblingPortConfig } from '../../agent/mesh/sibling-wire-server.js';
import { createLogger } from '../../agent/observability/logger.js';
import { AgentMetrics } from '../../agent/observability/metrics.js';
import { GrpcAppServer } from '../../agent/transports/grpc/grpc-app-server.js';
import { HttpAppServer } from '../../agent/transports/http/http-app-server.js';
import type { TransportDeps } from '../../agent/transports/transport-deps.js';
import { WireAppServer } from '../../agent/transports/wire/wire-app-server.js';
import { makeTlsFiles, type TlsFiles } from '../support/tls-certs.js';
import { createGrpcClients, type GrpcClients } from './grpc-client.js';
import { HttpClient } from './http-client.js';
import { WireTestClient, type TlsTarget } from './wire-test-client.js';

// Tokens used on the sibling port have at least 32 characters (MIN_NETWORK_TOKEN_CHARS).
export const DEMO_TOKEN = 'demo-token-0123456789abcdef0123456789';
export const OTHER_TOKEN = 'other-token-9876543210fedcba9876543210';
export const CLUSTER_TOKEN = 'cluster-token-0123456789abcdef0123456789';

export type Transport = 'grpc' | 'http' | 'wire';

export interface ExtraApp {
  readonly id: string;
  readonly token: string;
  readonly allow?: Partial<AppAllowConfig>;
  readonly quota?: Partial<QuotaConfig>;
}

export interface InProcessOptions<T extends Transport> {
  /** The servers every app gets, in this order; startServer() adds others. */
  readonly transports: readonly T[];
  readonly limits?: Partial<LimitsConfig>;
  readonly pubsub?: Partial<PubsubDefaults>;
  /** Initial content of the `appconfig` store's YAML file. */
  readonly configurationItems?: string;
  /** Apps declared after `demo` and `other` (each gets servers like them). */
  readonly apps?: readonly ExtraApp[];
  /** allow.callers of `other` (default: everyone). */
  readonly otherCallers?: readonly string[];
  /** The `invoke` section of the configuration, as is. */
  readonly invoke?: object;
  /** Give the transports a real AppQuotas (`quotas`); off by default. */
  readonly quotas?: boolean;
  /** The generation the metadata API reports (default 3). */
  readonly generation?: number;
  /** Wire servers: how long a started frame may stay incomplete. */
  readonly frameTimeoutMs?: number;
  /** Sibling port: lowered limits, written into the configuration's `siblings` (its defaults otherwise). */
  readonly siblingLimits?: Partial<SiblingLimits>;
  /** Sibling port: signed-in connections idle this long are closed (none by default here). */
  readonly siblingIdleTimeoutMs?: number;
}

export type SiblingLimits = Pick<SiblingPortConfig, 'handshakeTimeoutMs' | 'signInTimeoutMs' | 'maxConnections' | 'maxConnectionsPerAddress' | 'maxAuthFailures'>;

export interface ServerOf {
  grpc: GrpcAppServer;
  http: HttpAppServer;
  wire: WireAppServer;
}

/** One app's side of a transport: its socket and server, and for gRPC and HTTP a client with its token. */
export interface AppTransports {
  grpc: { readonly socket: string; readonly server: GrpcAppServer; readonly clients: GrpcClients };
  http: { readonly socket: string; readonly server: HttpAppServer; readonly client: HttpClient };
  wire: { readonly socket: string; readonly server: WireAppServer };
}

export type InProcessApp<T extends Transport> = { readonly id: string; readonly token: string } & { readonly [K in T]: AppTransports[K] };

export interface InProcess<T extends Transport> {
  readonly dir: string;
  readonly config: HearthConfig;
  readonly api: RuntimeApi;
  readonly metrics: AgentMetrics;
  readonly apps: AppRegistry;
  readonly logger: Logger;
  /** This agent's callback streams, by app. */
  readonly callbacks: CallbackRegistry;
  /** Present when started with `quotas: true`; every server shares it. */
  readonly quotas: AppQuotas | undefined;
  /** The file behind the `appconfig` configuration store. */
  readonly configurationFile: string;
  readonly demo: InProcessApp<T>;
  readonly other: InProcessApp<T>;
  /** Every app's, `options.apps` too. */
  readonly byId: Readonly<Record<string, InProcessApp<T>>>;
  /** Every log line written so far (JSON text), for redaction checks. */
  logText(): string;
  /** hearth_requests_total over the samples whose labels include `match`: the calls that ended so. */
  requests(match: Readonly<Partial<Record<'app' | 'api' | 'transport' | 'code', string>>>): Promise<number>;
  /** What a transport server of `appId` is built with. */
  transportDeps(appId: string): TransportDeps;
  /** Registers a cleanup for close(). */
  defer(cleanup: () => Promise<void> | void): void;
  /** More gRPC clients for a socket, e.g. with another app's token or none; closed by close(). */
  grpcClients(socket: string, token?: string): GrpcClients;
  /** Another HTTP client for a socket; closed by close(). */
  httpClient(socket: string, token?: string, keepAlive?: boolean): HttpClient;
  /** A new raw wire client on a Unix socket (an app's wire.sock, a peer socket); closed by close(). */
  connect(socketPath: string): Promise<WireTestClient>;
  /**
   * A new raw wire client on the sibling port; `mtls` presents the CA-signed client certificate,
   * `localAddress` (another loopback address, e.g. 127.0.0.2) is the source address it connects from.
   */
  connectSibling(mtls?: boolean, localAddress?: string): Promise<WireTestClient>;
  /** Starts another server of `transport` for an app (as the next generation would); closed by close(). */
  startServer<K extends Transport>(appId: string, transport: K, frameTimeoutMs?: number): Promise<ServerOf[K]>;
  /** The TLS sibling port (started once, on 127.0.0.1 and a free port). */
  sibling(): Promise<SiblingWireServer>;
  /** A worker's peer socket (started once). */
  peer(): Promise<{ readonly server: PeerWireServer; readonly path: string }>;
  /** Runs every cleanup, last registered first, best effort. */
  close(): Promise<void>;
}

const DEFAULT_ITEMS = 'greeting: hello\nfeature:\n  value: "on"\n  version: "7"\n  metadata:\n    owner: ops\n';

export async function startInProcess<T extends Transport>(options: InProcessOptions<T>): Promise<InProcess<T>> {
  // Short: socket paths must fit sun_path (~107 bytes).
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hx-'));
  const cleanups: (() => Promise<void> | void)[] = [() => rm(dir, { recursive: true, force: true })];
  const defer = (cleanup: () => Promise<void> | void): void => void cleanups.push(cleanup);
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
    // trace: everything the agent would log, for the redaction checks.
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
    defer(() => components.close());

    const delivery = localDelivery(config.invoke.callbackConcurrency, logger);
    const api = createRuntimeApi({ components, config, version: '0.0.0-test', generation: options.generation ?? 3, ...delivery });
    const metrics = new AgentMetrics();
    const apps = new AppRegistry(config.apps);
    const quotas = options.quotas === true ? new AppQuotas() : undefined;
    const transportDeps = (appId: string): TransportDeps => ({ app: apps.require(appId), apps, api, metrics, logger, limits: config.limits, quotas });

    const grpcClients = (socket: string, token?: string): GrpcClients => {
      const c = createGrpcClients(socket, token);
      defer(() => c.close());
      return c;
    };
    const httpClient = (socket: string, token?: string, keepAlive = true): HttpClient => {
      const c = new HttpClient(socket, { ...(token !== undefined ? { token } : {}), keepAlive });
      defer(() => c.close());
      return c;
    };
    const connect = async (socketPath: string): Promise<WireTestClient> => {
      const c = await WireTestClient.unix(socketPath);
      defer(() => c.close());
      return c;
    };

    const startServer = async <K extends Transport>(appId: string, transport: K, frameTimeoutMs = options.frameTimeoutMs): Promise<ServerOf[K]> => {
      const deps = transportDeps(appId);
      const server: ServerOf[Transport] =
        transport === 'grpc' ? new GrpcAppServer(deps)
        : transport === 'http' ? new HttpAppServer(deps)
        : new WireAppServer(deps, { frameTimeoutMs });
      // The HTTP server expects the app's socket dir; the others make it.
      if (transport === 'http') await mkdir(deps.app.socketDir, { recursive: true });
      defer(() => server.close(transport === 'http' ? 2000 : 1000));
      await server.start();
      return server as ServerOf[K];
    };
    const sides = async (app: AppConfig, token: string): Promise<Partial<AppTransports>> => {
      const out: Partial<Record<Transport, unknown>> = {};
      for (const transport of options.transports) {
        const server = await startServer(app.id, transport);
        if (transport === 'grpc') out.grpc = { socket: app.grpcSocket, server, clients: grpcClients(app.grpcSocket, token) };
        if (transport === 'http') out.http = { socket: app.httpSocket, server, client: httpClient(app.httpSocket, token) };
        if (transport === 'wire') out.wire = { socket: app.wireSocket, server };
      }
      return out as Partial<AppTransports>;
    };
    const tokens = new Map<string, string>([['demo', DEMO_TOKEN], ['other', OTHER_TOKEN], ...(options.apps ?? []).map((a) => [a.id, a.token] as const)]);
    const byId: Record<string, InProcessApp<T>> = {};
    for (const app of config.apps) {
      const token = tokens.get(app.id) ?? OTHER_TOKEN;
      byId[app.id] = { id: app.id, token, ...(await sides(app, token)) } as InProcessApp<T>;
    }

    let certs: Promise<TlsFiles> | undefined;
    const tlsFiles = (): Promise<TlsFiles> => (certs ??= mkdir(path.join(dir, 'tls')).then(() => makeTlsFiles(path.join(dir, 'tls'))));
    let sibling: Promise<SiblingWireServer> | undefined;
    const startSibling = async (): Promise<SiblingWireServer> => {
      const c = await tlsFiles();
      const server = new SiblingWireServer({
        apps, api, metrics, logger, limits: config.limits, quotas,
        siblings: {
          ...config.siblings,
          listen: { host: '127.0.0.1', port: 0 },
          tls: { certFile: c.certFile, keyFile: c.keyFile, caFile: c.caFile, requireClientCert: false },
          clusterTokenSha256: createHash('sha256').update(CLUSTER_TOKEN).digest('hex'),
        },
        frameTimeoutMs: options.frameTimeoutMs,
        idleTimeoutMs: options.siblingIdleTimeoutMs,
      });
      defer(() => server.close(1000));
      await server.start();
      return server;
    };
    const connectSibling = async (mtls = false, localAddress?: string): Promise<WireTestClient> => {
      const server = await (sibling ??= startSibling());
      const c = await tlsFiles();
      const target: TlsTarget = {
        host: '127.0.0.1',
        port: server.port,
        ca: await readFile(c.caFile),
        ...(mtls ? { cert: await readFile(c.clientCertFile), key: await readFile(c.clientKeyFile) } : {}),
        ...(localAddress === undefined ? {} : { localAddress }),
      };
      const client = await WireTestClient.tls(target);
      defer(() => client.close());
      return client;
    };
    let peer: Promise<{ server: PeerWireServer; path: string }> | undefined;
    const startPeer = async (): Promise<{ server: PeerWireServer; path: string }> => {
      const p = path.join(dir, 'peers', 'w1.sock');
      const server = new PeerWireServer({ path: p, api, metrics, logger, limits: config.limits });
      defer(() => server.close(1000));
      await server.start();
      return { server, path: p };
    };

    return {
      dir,
      config,
      api,
      metrics,
      apps,
      logger,
      callbacks: delivery.callbacks,
      quotas,
      configurationFile,
      demo: byId.demo!,
      other: byId.other!,
      byId,
      logText: () => lines.join(''),
      requests: async (match) =>
        (await metrics.requests.get()).values
          .filter((v) => Object.entries(match).every(([k, want]) => v.labels[k as keyof typeof match] === want))
          .reduce((sum, v) => sum + v.value, 0),
      transportDeps,
      defer,
      grpcClients,
      httpClient,
      connect,
      connectSibling,
      startServer,
      sibling: () => (sibling ??= startSibling()),
      peer: () => (peer ??= startPeer()),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function configYaml(dir: string, options: InProcessOptions<Transport>): string {
  const section = (name: string, values: object | undefined): string => {
    const body = Object.entries(values ?? {})
      .map(([k, v]) => `  ${k}: ${String(v)}\n`)
      .join('');
    return body ? `${name}:\n${body}` : '';
  };
  // JSON is YAML flow syntax: extra apps, callers and the invoke section go in as JSON.
  const extraApps = (options.apps ?? [])
    .map((a) => {
      const allow = { components: ['*'], topics: ['*'], ...a.allow };
      return `  - { id: ${a.id}, token: ${a.token}, allow: ${JSON.stringify(allow)}${a.quota ? `, quota: ${JSON.stringify(a.quota)}` : ''} }\n`;
    })
    .join('');
  const invoke = options.invoke ? `invoke: ${JSON.stringify(options.invoke)}\n` : '';
  const otherCallers = options.otherCallers ? `      callers: ${JSON.stringify(options.otherCallers)}\n` : '';
  return `version: 1
runDir: ${dir}/run
stateDir: ${dir}/state
${section('limits', options.limits)}${section('pubsub', options.pubsub)}${section('siblings', options.siblingLimits)}${invoke}apps:
  - id: demo
    token: ${DEMO_TOKEN}
    allow: { components: ['*'], topics: ['*'], apps: ['*'] }
  - id: other
    token: ${OTHER_TOKEN}
    allow:
      components: [statestore, shared, pubsub, lockstore, sequencer, appconfig]
      topics: ['orders', 'other.*']
${otherCallers}${extraApps}components:
  - { name: statestore, type: state.sqlite }
  - { name: private, type: state.sqlite }
  - { name: shared, type: state.sqlite, shared: true }
  - { name: pubsub, type: pubsub.sqlite, metadata: { pollIntervalMs: 10 } }
  - { name: lockstore, type: lock.sqlite }
  - { name: sequencer, type: sequencer.sqlite }
  - { name: appconfig, type: configuration.file, metadata: { path: ${dir}/items.yaml, pollIntervalMs: 100 } }
`;
}
