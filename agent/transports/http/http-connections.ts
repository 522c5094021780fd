// Tracks the server's connections so a drain closes each one at a request boundary. Node's
// server.close() destroys idle keep-alive connections at once, which races a client that is just
// reusing one (EPIPE / ECONNRESET: a failed request during an upgrade). Instead, while draining:
// a busy connection closes after its response (`Connection: close`), and an idle one only once it
// has been idle for a while — a client in the middle of a burst sends its next request first and
// gets that clean boundary.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface ConnectionState {
  active: number;
  idleSince: number;
  timer: NodeJS.Timeout | undefined;
}

export class ConnectionTracker {
  readonly #conns = new Map<Socket, ConnectionState>();
  readonly #emptyWaiters: (() => void)[] = [];
  #drainIdleMs: number | undefined;

  constructor(server: Server, onOpen: () => void, onClose: () => void) {
    server.on('connection', (socket: Socket) => {
      const state: ConnectionState = { active: 0, idleSince: Date.now(), timer: undefined };
      this.#conns.set(socket, state);
      onOpen();
      if (this.#drainIdleMs !== undefined) this.#scheduleIdleClose(socket, state);
      socket.once('close', () => {
        clearTimeout(state.timer);
        this.#conns.delete(socket);
        onClose();
        if (this.#conns.size === 0) for (const w of this.#emptyWaiters.splice(0)) w();
      });
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const state = this.#conns.get(req.socket);
      if (!state) return;
      state.active++;
      clearTimeout(state.timer);
      state.timer = undefined;
      res.once('close', () => {
        state.active--;
        state.idleSince = Date.now();
        if (this.#drainIdleMs !== undefined) this.#scheduleIdleClose(req.socket, state);
      });
    });
  }

  get size(): number {
    return this.#conns.size;
  }

  /** From now on, a connection idle for `idleMs` is ended (at once if it already was). */
  drain(idleMs: number): void {
    this.#drainIdleMs = idleMs;
    for (const [socket, state] of this.#conns) this.#scheduleIdleClose(socket, state);
  }

  destroyAll(): void {
    for (const socket of this.#conns.keys()) socket.destroy();
  }

  /** Resolves once no connection is open. */
  empty(): Promise<void> {
    if (this.#conns.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#emptyWaiters.push(resolve));
  }

  #scheduleIdleClose(socket: Socket, state: ConnectionState): void {
    if (state.active > 0 || state.timer !== undefined || this.#drainIdleMs === undefined) return;
    const wait = Math.max(0, this.#drainIdleMs - (Date.now() - state.idleSince));
    state.timer = setTimeout(() => {
      state.timer = undefined;
      // Still idle: end our side (FIN); the client's agent drops the socket from its pool.
      if (state.active === 0) socket.end();
    }, wait);
  }
}
