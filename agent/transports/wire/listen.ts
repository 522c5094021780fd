// The listening half every wire server shares (wire.sock, the sibling port, the peer socket):
// bind once, then a graceful close (stop accepting, drain the sessions) or a forced destroy.
// In a cluster worker a listen without `exclusive` goes through the primary, which shares one
// handle among the workers.
import { rmSync } from 'node:fs';
import type net from 'node:net';
import type { Logger } from 'pino';
import type { AppServer } from '../transport-deps.js';
import type { WireConnections } from './wire-connections.js';

/** How long a draining server's own listener stays open after its path is gone, at least. */
const OWN_LISTENER_LINGER_MS = 100;

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
    this.#closing ??= (async () => {
      const own = this.ownPath;
      if (own === undefined) {
        // Stop accepting (in a worker the primary keeps a shared listener for the other workers), then drain.
        this.#server?.close();
        await this.sessions.drain(graceMs);
        return;
      }
      // A socket of our own: closing the listener now would reset the connections still waiting
      // in its backlog, some with a Request already written — a call lost in flight to its
      // caller. Instead the path goes first (a new connect is refused: provably not sent), what
      // already connected is accepted and told Goaway (nothing processed), and the listener
      // closes once the drain is over and nothing can still be on its way in.
      rmSync(own, { force: true });
      const lingered = new Promise((resolve) => setTimeout(resolve, OWN_LISTENER_LINGER_MS).unref());
      await this.sessions.drain(graceMs);
      await lingered;
      // One more poll phase first (check runs after it): a late timer must not close the
      // listener before the loop has accepted what its backlog still holds.
      await new Promise((resolve) => setImmediate(resolve));
      this.#server?.close();
    })();
    return this.#closing;
  }

  /** The Unix socket path this server alone listens on (exclusive), if any: see close(). */
  protected get ownPath(): string | undefined {
    return undefined;
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
