// An in-process agent for the HTTP tests: the core of in-process-runtime.ts plus one
// HttpAppServer per app on real Unix sockets, and keep-alive clients.
import { mkdir } from 'node:fs/promises';
import { HttpAppServer } from '../../agent/transports/http/http-app-server.js';
import { HttpClient } from './http-client.js';
import { startApps, startRuntimeCore, type InProcessBase, type RuntimeOptions } from './in-process-runtime.js';

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
  /** Another client for an app's socket (closed by harness.close()). */
  client(socket: string, token?: string, keepAlive?: boolean): HttpClient;
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
  const { apps, api, metrics, logger, config } = core;
  const { demo, other } = await startApps(core, async (app, token) => {
    await mkdir(app.socketDir, { recursive: true });
    const server = new HttpAppServer({ app, apps, api, metrics, logger, limits: config.limits });
    core.defer(() => server.close(2000));
    await server.start();
    return { id: app.id, token, socket: app.httpSocket, server, client: client(app.httpSocket, token) };
  });
  return { ...core, demo, other, client };
}
