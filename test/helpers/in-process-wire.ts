// An in-process agent for the wire tests: the core of in-process-runtime.ts plus one
// WireAppServer per app on real Unix sockets, and on demand the TLS sibling port (certificates
// from support/tls-certs.ts in the temp dir) and a worker's peer socket. Clients are the raw
// frame client of wire-test-client.ts.
//
// The invoke block is rebuilt over the same configuration with one change, so forwarded calls
// have an allow-list to be refused by: app `other` accepts calls from `demo` only
// (allow.callers). Everything else is the core's RuntimeApi.
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RuntimeApi } from '../../agent/building-blocks/runtime-api.js';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { ComponentSet } from '../../agent/components/component-set.js';
import type { HearthConfig } from '../../agent/config/load-config.js';
import { CallbackRegistry } from '../../agent/app-channel/callback-registry.js';
import { createInvokeApi } from '../../agent/building-blocks/invoke-api.js';
import { LocalRouter } from '../../agent/app-channel/local-router.js';
import { PeerWireServer } from '../../agent/mesh/peer-wire-server.js';
import { SiblingWireServer } from '../../agent/mesh/sibling-wire-server.js';
import { WireAppServer } from '../../agent/transports/wire/wire-app-server.js';
import { startApps, startRuntimeCore, type InProcessBase, type RuntimeOptions } from './in-process-runtime.js';
import { makeTlsFiles } from '../support/tls-certs.js';
import { WireTestClient, type TlsTarget } from './wire-test-client.js';

export const CLUSTER_TOKEN = 'cluster-token-0123456789abcdef';

export interface WireHarnessApp {
  readonly id: string;
  readonly token: string;
  readonly socket: string;
  readonly server: WireAppServer;
}

export interface TestCerts {
  readonly ca: Buffer;
  /** Signed by the CA: presented under mutual TLS (it lets a client connect; it is no identity). */
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface WireHarness extends InProcessBase {
  readonly demo: WireHarnessApp;
  readonly other: WireHarnessApp;
  /** Every app's server, the extra apps (options.apps) too. */
  readonly byId: Readonly<Record<string, WireHarnessApp>>;
  /** A new raw client on an app's wire.sock (or any Unix socket); closed by close(). */
  connect(socketPath: string): Promise<WireTestClient>;
  /** A new raw client on the sibling port; `mtls` presents the CA-signed client certificate. */
  connectSibling(mtls?: boolean): Promise<WireTestClient>;
  /** Starts another server for an app (as the next generation would), e.g. after closing one. */
  startServer(appId: string, frameTimeoutMs?: number): Promise<WireAppServer>;
  /** The TLS sibling port (started once, on 127.0.0.1 and a free port). */
  sibling(): Promise<SiblingWireServer>;
  /** A worker's peer socket (started once). */
  peer(): Promise<{ readonly server: PeerWireServer; readonly path: string }>;
}

/** Sibling-port settings lowered for tests (SiblingWireServer's defaults otherwise). */
export interface SiblingTestOptions {
  readonly siblingMaxConnections?: number;
  readonly preAuthTimeoutMs?: number;
}

export async function startWireHarness(options: RuntimeOptions & { frameTimeoutMs?: number } & SiblingTestOptions = {}): Promise<WireHarness> {
  const core = await startRuntimeCore(options, { logLevel: 'debug', generation: 3 });
  const { apps, metrics, logger, config, dir } = core;
  let api: RuntimeApi;
  try {
    api = await withRestrictedCallers(core.api, config, dir, (c) => core.defer(c), logger);
  } catch (err) {
    await core.close();
    throw err;
  }
  const clients: WireTestClient[] = [];
  core.defer(() => clients.forEach((c) => c.close()));
  const connect = async (socketPath: string): Promise<WireTestClient> => {
    const c = await WireTestClient.unix(socketPath);
    clients.push(c);
    return c;
  };
  // quotas: the core's AppQuotas when started with `quotas: true`.
  const deps = { apps, api, metrics, logger, limits: config.limits, quotas: core.quotas };
  const startServer = async (appId: string, frameTimeoutMs = options.frameTimeoutMs): Promise<WireAppServer> => {
    const server = new WireAppServer({ ...deps, app: apps.require(appId) }, { frameTimeoutMs });
    core.defer(() => server.close(1000));
    await server.start();
    return server;
  };
  const { demo, other, byId } = await startApps(
    core,
    async (app, token) => {
      const server = await startServer(app.id);
      return { id: app.id, token, socket: app.wireSocket, server };
    },
    options.apps,
  );

  let certs: Promise<TestCerts> | undefined;
  let sibling: Promise<SiblingWireServer> | undefined;
  const startSibling = async (): Promise<SiblingWireServer> => {
    const c = await (certs ??= makeCerts(dir));
    const server = new SiblingWireServer({
      ...deps,
      siblings: {
        listen: { host: '127.0.0.1', port: 0 },
        tls: { certFile: c.certFile, keyFile: c.keyFile, caFile: c.caFile, requireClientCert: false },
        clusterTokenSha256: createHash('sha256').update(CLUSTER_TOKEN).digest('hex'),
      },
      frameTimeoutMs: options.frameTimeoutMs,
      maxConnections: options.siblingMaxConnections,
      preAuthTimeoutMs: options.preAuthTimeoutMs,
    });
    core.defer(() => server.close(1000));
    await server.start();
    return server;
  };
  const connectSibling = async (mtls = false): Promise<WireTestClient> => {
    const server = await (sibling ??= startSibling());
    const c = await (certs ??= makeCerts(dir));
    const target: TlsTarget = { host: '127.0.0.1', port: server.port, ca: c.ca, ...(mtls ? { cert: c.clientCert, key: c.clientKey } : {}) };
    const client = await WireTestClient.tls(target);
    clients.push(client);
    return client;
  };
  let peer: Promise<{ server: PeerWireServer; path: string }> | undefined;
  const startPeer = async (): Promise<{ server: PeerWireServer; path: string }> => {
    const p = path.join(dir, 'peers', 'w1.sock');
    const server = new PeerWireServer({ path: p, api, metrics, logger, limits: config.limits });
    core.defer(() => server.close(1000));
    await server.start();
    return { server, path: p };
  };

  return {
    ...core,
    api,
    demo,
    other,
    byId,
    connect,
    connectSibling,
    startServer,
    sibling: () => (sibling ??= startSibling()),
    peer: () => (peer ??= startPeer()),
  };
}

/** The core's api with an invoke block whose configuration has `other` accept `demo` only. */
async function withRestrictedCallers(
  base: RuntimeApi,
  config: HearthConfig,
  dir: string,
  defer: (cleanup: () => Promise<void> | void) => void,
  logger: import('pino').Logger,
): Promise<RuntimeApi> {
  const restricted: HearthConfig = {
    ...config,
    apps: config.apps.map((a) => (a.id === 'other' ? { ...a, allow: { ...a.allow, callers: ['demo'] } } : a)),
  };
  // The invoke block uses no component; it gets a real, empty set.
  const components = await ComponentSet.start([], new ComponentRegistry(), { stateDir: config.stateDir, configDir: dir, limits: config.limits, logger });
  defer(() => components.close());
  const callbacks = new CallbackRegistry(config.invoke.callbackConcurrency, logger);
  const invoke = createInvokeApi({ components, config: restricted, version: '0.0.0-test', generation: 3, callbacks, router: new LocalRouter(callbacks) });
  return Object.freeze({ ...base, invoke });
}

/** The CA, the sibling port's certificate and a CA-signed client certificate (support/tls-certs.ts). */
async function makeCerts(dir: string): Promise<TestCerts> {
  const tlsDir = path.join(dir, 'tls');
  await mkdir(tlsDir);
  const files = await makeTlsFiles(tlsDir);
  return {
    ca: await readFile(files.caFile),
    clientCert: await readFile(files.clientCertFile),
    clientKey: await readFile(files.clientKeyFile),
    caFile: files.caFile,
    certFile: files.certFile,
    keyFile: files.keyFile,
  };
}
