// An in-process agent for the HTTP tests: the core of in-process-runtime.ts plus one
// HttpAppServer per app on real Unix sockets, and keep-alive clients.
import { mkdir } from 'node:fs/promises';
import { GrpcAppServer } from '../../agent/transports/grpc/grpc-app-server.js';
import { HttpAppServer } from '../../agent/transports/http/http-app-server.js';
import { HttpClient } from './http-client.js';
import { startApps, startRuntimeCore, type InProcessBase, type RuntimeCore, type RuntimeOptions } from './in-process-runtime.js';

export { DEMO_TOKEN, OTHER_TOKEN } from './in-process-runtime.js';

export interface HarnessApp {
  readonly id: string;
  readonly token: string;
  readonly socket: string;
  readonly server: HttpAppServer;
  /** A keep-alive client with the app's token; closed by harness.close(). */
  readonly client: HttpClient;
}

export interface HttpHarness extends InProcessBase {
  readonly demo: HarnessApp;
  readonly other: HarnessApp;
  /** Every app's, `options.apps` too. */
  readonly byId: Readonly<Record<string, HarnessApp>>;
  /** Present when started with `quotas: true`. */
  readonly quotas: RuntimeCore['quotas'];
  /** Another client for an app's socket (closed by harness.close()). */
  client(socket: string, token?: string, keepAlive?: boolean): HttpClient;
  /** Starts the app's gRPC server on its grpc.sock too (e.g. for a callback stream); closed by close(). */
  startGrpcServer(appId: string): Promise<GrpcAppServer>;
}

export async function startHttpHarness(options: RuntimeOptions = {}): Promise<HttpHarness> {
  const core = await startRuntimeCore(options, { logLevel: 'trace', generation: 1 });
  const clients: HttpClient[] = [];
  core.defer(() => clients.forEach((c) => c.close()));
  const client = (socket: string, token?: string, keepAlive = true): HttpClient => {
    const c = new HttpClient(socket, { ...(token !== undefined ? { token } : {}), keepAlive });
    clients.push(c);
    return c;
  };
  const { demo, other, byId } = await startApps(
    core,
    async (app, token) => {
      await mkdir(app.socketDir, { recursive: true });
      const server = new HttpAppServer(core.transportDeps(app.id));
      core.defer(() => server.close(2000));
      await server.start();
      return { id: app.id, token, socket: app.httpSocket, server, client: client(app.httpSocket, token) };
    },
    options.apps,
  );
  const startGrpcServer = async (appId: string): Promise<GrpcAppServer> => {
    const server = new GrpcAppServer(core.transportDeps(appId));
    core.defer(() => server.close(1000));
    await server.start();
    return server;
  };
  return { ...core, demo, other, byId, client, startGrpcServer };
}
