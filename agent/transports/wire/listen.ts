// The listening half every wire server shares (wire.sock, the sibling port, the peer socket):
// bind once, then a graceful close (stop accepting, drain the sessions) or a forced destroy.
// In a cluster worker a listen without `exclusive` goes through the primary, which shares one
// handle among the workers.
import type net from 'node:net';
import type { Logger } from 'pino';
import type { AppServer } from '../transport-deps.js';
import type { WireConnections } from './wire-connections.js';

export function listen(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export abstract class WireServer<S extends net.Server = net.Server> implements AppServer {
  readonly #name: string;
  #server: S | undefined;
  #closing: Promise<void> | undefined;

  protected constructor(name: string) {
    this.#name = name;
  }

  /** The sessions of this server's connections. */
  protected abstract get sessions(): WireConnections;

  abstract start(): Promise<void>;

  /** The bound server, once start() has bound it. */
  protected get server(): S | undefined {
    return this.#server;
  }

  /** Throws unless start() may run: once, and never after close(). */
  protected assertStartable(): void {
    if (this.#closing !== undefined || this.#server !== undefined) throw new Error(`${this.#name}.start() called twice or after close()`);
  }

  /** Binds `server`; on failure (e.g. EADDRINUSE outside a cluster) the server is startable again. */
  protected async bind(server: S, options: net.ListenOptions, log: Logger): Promise<void> {
    this.assertStartable();
    this.#server = server;
    try {
      await listen(server, options);
    } catch (err) {
      this.#server = undefined;
      throw err;
    }
    server.on('error', (err) => log.error({ err }, `${this.#name} listener error`));
  }

  close(graceMs: number): Promise<void> {
    // Stop accepting (in a worker the primary keeps a shared listener for the other workers), then drain.
    this.#closing ??= (async () => {
      this.#server?.close();
      await this.sessions.drain(graceMs);
    })();
    return this.#closing;
  }

  destroy(): void {
    this.#closing ??= Promise.resolve();
    this.#server?.close();
    this.sessions.destroy();
  }

  connections(): number {
    return this.sessions.size;
  }
}
