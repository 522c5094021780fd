// An in-process agent for the gRPC tests: the core of in-process-runtime.ts plus one
// GrpcAppServer per app on real Unix sockets, and real grpc-js clients.
import { GrpcAppServer } from '../../agent/transports/grpc/grpc-app-server.js';
import { createGrpcClients, type GrpcClients } from './grpc-client.js';
import { startApps, startRuntimeCore, type InProcessBase, type RuntimeCore, type RuntimeOptions } from './in-process-runtime.js';

export interface GrpcHarnessApp {
  readonly id: string;
  readonly token: string;
  readonly socket: string;
  readonly server: GrpcAppServer;
  /** Clients carrying the app's token; closed by close(). */
  readonly clients: GrpcClients;
}

export interface GrpcHarness extends InProcessBase {
  readonly demo: GrpcHarnessApp;
  readonly other: GrpcHarnessApp;
  /** Every app's, `options.apps` too. */
  readonly byId: Readonly<Record<string, GrpcHarnessApp>>;
  /** Present when started with `quotas: true`. */
  readonly quotas: RuntimeCore['quotas'];
  /** More clients for a socket, e.g. with another app's token or none; closed by close(). */
  clients(socket: string, token?: string): GrpcClients;
  /** Starts another server for an app (as the next generation would), e.g. after closing one. */
  startServer(appId: string): Promise<GrpcAppServer>;
}

export async function startGrpcHarness(options: RuntimeOptions = {}): Promise<GrpcHarness> {
  const core = await startRuntimeCore(options, { logLevel: 'debug', generation: 3 });
  const made: GrpcClients[] = [];
  core.defer(() => made.forEach((c) => c.close()));
  const clients = (socket: string, token?: string): GrpcClients => {
    const c = createGrpcClients(socket, token);
    made.push(c);
    return c;
  };
  const startServer = async (appId: string): Promise<GrpcAppServer> => {
    const server = new GrpcAppServer(core.transportDeps(appId));
    core.defer(() => server.close(1000));
    await server.start();
    return server;
  };
  const { demo, other, byId } = await startApps(
    core,
    async (app, token) => {
      const server = await startServer(app.id);
      return { id: app.id, token, socket: app.grpcSocket, server, clients: clients(app.grpcSocket, token) };
    },
    options.apps,
  );
  return { ...core, demo, other, byId, clients, startServer };
}
