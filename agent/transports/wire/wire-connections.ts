// The open connections of one wire server: one WireSession each, the connections gauge, and the
// graceful drain every server shares (Goaway, in-flight calls finish, streams end with their
// drain codes, each connection closes when idle, the rest is destroyed after the grace time).
import type net from 'node:net';
import type { Logger } from 'pino';
import type { AgentMetrics } from '../../observability/metrics.js';
import { callbackDrainGraceMs } from '../../app-channel/callback-registry.js';
import { encodeFrame, FrameType, type WireHeader } from '@hearth/protocol';
import { toHearthError } from '../../errors/hearth-error.js';
import { errorHeader } from './wire-call.js';
import { WireSession, type Identify, type WireSessionDeps } from './wire-session.js';

/** How long a refused connection is kept for its Goaway to be read before it is destroyed. */
const REFUSED_LINGER_MS = 1_000;

export class WireConnections {
  readonly #deps: WireSessionDeps;
  readonly #log: Logger;
  readonly #metrics: AgentMetrics;
  readonly #label: string;
  readonly #sessions = new Map<net.Socket, WireSession>();
  #draining = false;
  #whenIdle: (() => void) | undefined;

  /** `label` is the `app` label of the connections gauge: the app id, or the server's role. */
  constructor(deps: WireSessionDeps, label: string) {
    this.#deps = deps;
    this.#log = deps.logger;
    this.#metrics = deps.metrics;
    this.#label = label;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * `admit`, when given, counts the connection against a budget (throws a coded error over it,
   * and the connection is told why in a Goaway and closed) and returns its release. `openedAt`:
   * when the connection was accepted, if earlier than now (see WireSession).
   */
  accept(socket: net.Socket, identify: Identify, admit?: () => () => void, openedAt?: number): void {
    if (this.#draining) {
      // Accepted after the drain began (it waited in the listener's backlog): whatever it wrote
      // is read and dropped, and Goaway with stream 0 tells it nothing was processed, so its
      // calls are replayed elsewhere. Destroying it instead would reset a connection whose
      // Request may already be written: to its caller, a call lost in flight.
      refuse(socket, { errorCode: 'HEARTH_ERR_DRAINING', errorMessage: 'this server is draining; open a new connection' });
      return;
    }
    let release: (() => void) | undefined;
    try {
      release = admit?.();
    } catch (err) {
      refuse(socket, errorHeader(toHearthError(err)));
      return;
    }
    // One small frame per call each way: do not let Nagle hold a Response back (TCP only).
    socket.setNoDelay(true);
    const labels = { app: this.#label, transport: 'wire' } as const;
    const session = new WireSession(socket, this.#deps, identify, this.#log.child({ conn: connectionName(socket) }), openedAt);
    this.#sessions.set(socket, session);
    this.#metrics.connections.inc(labels);
    socket.once('close', () => {
      release?.();
      this.#sessions.delete(socket);
      this.#metrics.connections.dec(labels);
      if (this.#sessions.size === 0) this.#whenIdle?.();
    });
  }

  /** Drains every session; resolves when all are closed, destroying what is left after graceMs. */
  async drain(graceMs: number): Promise<void> {
    this.#draining = true;
    // Callback streams may wait for their answers within part of the grace, so they end (with
    // their drain code) before what is left is destroyed at graceMs.
    const streamGrace = callbackDrainGraceMs(graceMs);
    for (const s of this.#sessions.values()) s.drain(streamGrace);
    await new Promise<void>((resolve) => {
      // Destroyed sockets still report 'close' (a tick later): resolve on the last one.
      const timer = setTimeout(() => this.destroy(), graceMs);
      this.#whenIdle = () => {
        clearTimeout(timer);
        resolve();
      };
      if (this.#sessions.size === 0) this.#whenIdle();
    });
  }

  destroy(): void {
    this.#draining = true;
    for (const s of this.#sessions.values()) s.destroy();
  }
}

/**
 * Goaway (stream 0: nothing accepted) and close. What the peer sends meanwhile is read and
 * dropped, so its last bytes never sit unread when we close (which would reset the connection
 * before it reads the Goaway). Gone after REFUSED_LINGER_MS even if the peer never closes its side
 * (allowHalfOpen): it must not keep the descriptor it was refused.
 */
function refuse(socket: net.Socket, header: WireHeader): void {
  socket.on('error', () => undefined);
  socket.end(encodeFrame({ type: FrameType.Goaway, streamId: 0, header }));
  socket.resume();
  setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
}

function connectionName(socket: net.Socket): string {
  return socket.remoteAddress === undefined ? 'unix' : `${socket.remoteAddress}:${socket.remotePort ?? 0}`;
}
