// Tracks the server's connections so a drain closes each one at a request boundary. Node's
// server.close() destroys idle keep-alive connections at once, which races a client that is just
// reusing one (EPIPE / ECONNRESET: a failed request during an upgrade). Instead, while draining:
// a busy connection closes after its response (`Connection: close`), and an idle one only once it
// has been idle for a while — a client in the middle of a burst sends its next request first and
// gets that clean boundary.
//
// Outside a drain the same rule keeps an app within its budgets: a connection idle (no request in
// progress) for budgets.idleTimeoutMs is ended, and a connection past budgets.connectionsPerSocket
// is answered 429 HEARTH_ERR_RESOURCE_EXHAUSTED and closed before any request is read.
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { toHearthError } from '../../errors/hearth-error.js';
import { errorBody } from './http-errors.js';

export interface ConnectionTrackerOptions {
  readonly onOpen: () => void;
  readonly onClose: () => void;
  /** Counts a connection against a budget (throws a coded error over it); returns its release, or undefined when it is not counted. */
  readonly admit?: ((socket: Socket) => (() => void) | undefined) | undefined;
  /** A connection with no request in progress this long is ended. */
  readonly idleTimeoutMs?: number | undefined;
}

interface ConnectionState {
  active: number;
  idleSince: number;
  timer: NodeJS.Timeout | undefined;
}

export class ConnectionTracker {
  readonly #conns = new Map<Socket, ConnectionState>();
  readonly #emptyWaiters: (() => void)[] = [];
  #drainIdleMs: number | undefined;
  readonly #idleMs: number | undefined;

  constructor(server: Server, options: ConnectionTrackerOptions) {
    this.#idleMs = options.idleTimeoutMs;
    server.on('connection', (socket: Socket) => {
      let release: (() => void) | undefined;
      try {
        release = options.admit?.(socket);
      } catch (err) {
        refuse(socket, err);
        return;
      }
      const state: ConnectionState = { active: 0, idleSince: Date.now(), timer: undefined };
      this.#conns.set(socket, state);
      options.onOpen();
      this.#scheduleIdleClose(socket, state);
      socket.once('close', () => {
        clearTimeout(state.timer);
        release?.();
        this.#conns.delete(socket);
        options.onClose();
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
        this.#scheduleIdleClose(req.socket, state);
      });
    });
  }

  get size(): number {
    return this.#conns.size;
  }

  /** From now on, a connection idle for `idleMs` is ended (at once if it already was). */
  drain(idleMs: number): void {
    this.#drainIdleMs = idleMs;
    for (const [socket, state] of this.#conns) {
      // A drain is shorter than the idle timeout: reschedule on its clock.
      clearTimeout(state.timer);
      state.timer = undefined;
      this.#scheduleIdleClose(socket, state);
    }
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
    const idleMs = Math.min(this.#drainIdleMs ?? Number.POSITIVE_INFINITY, this.#idleMs ?? Number.POSITIVE_INFINITY);
    if (state.active > 0 || state.timer !== undefined || idleMs === Number.POSITIVE_INFINITY || !this.#conns.has(socket)) return;
    const wait = Math.max(0, idleMs - (Date.now() - state.idleSince));
    state.timer = setTimeout(() => {
      state.timer = undefined;
      // Still idle: end our side (FIN); the client's agent drops the socket from its pool.
      if (state.active === 0) socket.end();
    }, wait);
    // A server that is closing waits for its connections itself; these timers must not hold the process.
    state.timer.unref();
  }
}

/** Over budget before any request was read: a coded 429 and the connection closed. */
function refuse(socket: Socket, err: unknown): void {
  const e = toHearthError(err);
  const body = JSON.stringify(errorBody(e));
  socket.end(
    `HTTP/1.1 ${e.httpStatus} ${STATUS_CODES[e.httpStatus] ?? 'Error'}\r\ncontent-type: application/json\r\nhearth-error-code: ${e.code}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.destroySoon();
}
