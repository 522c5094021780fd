// One gRPC server per app on <run>/apps/<id>/grpc.sock: the socket is the caller's identity, the
// token must also match. Health and reflection are served on the same socket, unauthenticated
// (the socket's permissions already limit who can connect; they reveal no app data).
//
// We listen with our own net.Server and hand each connection to grpc-js through
// createConnectionInjector rather than bindAsync: the listen goes through the cluster primary
// exactly the same way (both were tried with 2 workers on one socket under SCHED_NONE), and owning
// the net.Server gives connections() real connection counts, which grpc-js keeps private.
// grpc-js 1.14's Server.drain(port) only knows bound ports; ConnectionInjector.drain(graceMs) is
// its equivalent here (GOAWAY now, NGHTTP2_CANCEL after the grace time).
//
// Oversize messages: grpc-js rejects a message above limits.maxBodyBytes before any handler runs,
// with RESOURCE_EXHAUSTED and details "Received message larger than max (<n> vs. <max>)" and no
// hearth-error-code trailer (it bypasses interceptors). Clients should read RESOURCE_EXHAUSTED
// without a code as HEARTH_ERR_BODY_TOO_LARGE.
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatusMap } from 'grpc-health-check';
import type { AppServer, TransportDeps } from '../transport-deps.js';
import { LOADER_OPTIONS, RUNTIME_PACKAGE } from '@hearth/protocol';
import { runtimeHandlers, runtimePackage, runtimeService, serviceNames } from './grpc-services.js';
import { callbackDrainGraceMs } from '../../app-channel/callback-registry.js';
import { StreamRegistry } from './stream-registry.js';
import { instrumentService } from './wire-codec.js';
import { applySocketAccess } from '../socket-access.js';


export class GrpcAppServer implements AppServer {
  readonly #deps: TransportDeps;
  readonly #server: grpc.Server;
  readonly #health: HealthImplementation;
  readonly #streams = new StreamRegistry();
  readonly #sockets = new Set<net.Socket>();
  #listener: net.Server | undefined;
  #injector: grpc.ConnectionInjector | undefined;
  #closing: Promise<void> | undefined;
  /** Called by close() when the last connection is gone. */
  #whenIdle: (() => void) | undefined;

  constructor(deps: TransportDeps) {
    this.#deps = deps;
    this.#server = new grpc.Server({
      'grpc.max_receive_message_length': deps.limits.maxBodyBytes,
      // An idle connection (no call open) is sent GOAWAY after the app's idle budget; gRPC clients reconnect by themselves.
      'grpc.max_connection_idle_ms': deps.app.budgets.idleTimeoutMs,
    });
    const handlers = runtimeHandlers(deps, this.#streams);
    for (const name of serviceNames()) this.#server.addService(instrumentService(runtimeService(name)), handlers[name] ?? {});

    this.#health = new HealthImplementation(this.#statusMap('SERVING'));
    this.#health.addToServer(this.#server);
    new ReflectionService({ ...runtimePackage(), ...protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS) }).addToServer(this.#server);
  }

  async start(): Promise<void> {
    if (this.#closing || this.#listener) throw new Error('GrpcAppServer.start() called twice or after close()');
    const { app } = this.#deps;
    await mkdir(app.socketDir, { recursive: true, mode: 0o750 });
    const injector = this.#server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const listener = net.createServer((socket) => this.#accept(socket, injector));
    this.#injector = injector;
    this.#listener = listener;
    // In a cluster worker this asks the primary for the shared handle (SCHED_NONE).
    try {
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen({ path: app.grpcSocket }, () => {
          listener.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      // e.g. EADDRINUSE outside a cluster: leave the server startable again.
      injector.destroy();
      this.#injector = undefined;
      this.#listener = undefined;
      throw err;
    }
    listener.on('error', (err) => this.#deps.logger.error({ err, app: app.id }, 'grpc listener error'));
    // Set right after listen; until then the socket directory's permissions keep others out.
    await applySocketAccess(app.grpcSocket, app, this.#deps.logger);
  }

  close(graceMs: number): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    for (const [service, status] of Object.entries(this.#statusMap('NOT_SERVING'))) this.#health.setStatus(service, status);
    const until = Date.now() + graceMs;
    // Stop accepting; in a worker the primary keeps the listener for the other workers.
    this.#listener?.close();
    // GOAWAY to every connection now (clients reconnect by themselves), CANCEL for what is left
    // after graceMs; no new calls. First, so that the stream an app opens to replace a draining
    // callback stream goes out on a new connection, which reaches the next generation.
    this.#injector?.drain(graceMs);
    // Subscriptions release their handles (unacked deliveries go back) before the client is told
    // (UNAVAILABLE + HEARTH_ERR_SUBSCRIPTION_CLOSED) to resubscribe; callback streams tell the
    // app they drain, take no new invocation, and end (UNAVAILABLE + HEARTH_ERR_DRAINING) once
    // the app answered what it holds, within part of the grace so the rest of close fits.
    await this.#streams.shutdownAll(callbackDrainGraceMs(graceMs));
    // Done when the last connection is gone, not when tryShutdown calls back: it does so at once
    // for sessions drain() already closed, while their final frames (our trailers) may still be
    // on their way.
    this.#server.tryShutdown(() => undefined);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        for (const socket of this.#sockets) socket.destroy();
        resolve();
      }, Math.max(0, until - Date.now()));
      this.#whenIdle = () => {
        clearTimeout(timer);
        resolve();
      };
      if (this.#sockets.size === 0) this.#whenIdle();
    });
  }

  destroy(): void {
    this.#closing ??= Promise.resolve();
    this.#listener?.close();
    this.#streams.shutdownAll().catch((err: unknown) => this.#deps.logger.error({ err }, 'ending grpc streams failed'));
    this.#injector?.destroy();
    this.#server.forceShutdown();
    for (const socket of this.#sockets) socket.destroy();
  }

  connections(): number {
    return this.#sockets.size;
  }

  #accept(socket: net.Socket, injector: grpc.ConnectionInjector): void {
    const labels = { app: this.#deps.app.id, transport: 'grpc' } as const;
    let release: (() => void) | undefined;
    try {
      release = this.#deps.budgets?.connection(this.#deps.app, 'grpc');
    } catch {
      // Over the app's budget (counted and logged by the budgets): nothing was read yet; close.
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    this.#deps.metrics.connections.inc(labels);
    socket.once('close', () => {
      release?.();
      this.#sockets.delete(socket);
      this.#deps.metrics.connections.dec(labels);
      if (this.#sockets.size === 0) this.#whenIdle?.();
    });
    injector.injectConnection(socket);
  }

  #statusMap(status: 'SERVING' | 'NOT_SERVING'): ServingStatusMap {
    const map: ServingStatusMap = { '': status };
    for (const name of serviceNames()) map[`${RUNTIME_PACKAGE}.${name}`] = status;
    return map;
  }
}

