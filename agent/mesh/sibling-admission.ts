// The sibling port's door, from TCP accept to the TLS session: what a stranger can hold there is
// bounded before any TLS work (docs/operations.md, "Sibling port limits").
// - One source address holds at most maxConnectionsPerAddress connections; more are closed at
//   accept, so one host cannot take the whole of maxConnections (net.Server's cap, which refuses
//   at accept too and reports here).
// - The sign-in timer starts at accept: a connection whose TLS handshake is not done within
//   signInTimeoutMs is closed, and the session is told when it was accepted so the rest of the
//   same budget bounds its first authenticated Request.
// - A handshake that fails or times out closes its connection (Node only reports a timed-out one).
//   A connection that never finished its handshake is counted once, when it closes, by why:
//   handshake_timeout, sign_in_timeout, or handshake_failed (a failure, or the client left).
// - Every connection turned away is counted (hearth_sibling_refused_total{reason}) and logged at
//   most once per LOG_INTERVAL_MS per kind, with the counts since the last line: refusals at
//   accept warn (the port is full), closures of strangers are info (one per stranger would let a
//   flood write the log).
// The limits hold per worker: every worker accepts on the shared listener.
import type net from 'node:net';
import type { Logger } from 'pino';
import type { AgentMetrics } from '../observability/metrics.js';

const LOG_INTERVAL_MS = 10_000;

/** Refused at accept. */
export type AcceptRefusal = 'max_connections' | 'per_address';
/** Closed before, or for want of, authentication. */
export type StrangerClosure = 'handshake_timeout' | 'handshake_failed' | 'sign_in_timeout' | 'auth_failures';

export interface SiblingAdmissionOptions {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly signInTimeoutMs: number;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
}

interface Admitted {
  readonly socket: net.Socket;
  readonly openedAt: number;
  timer: NodeJS.Timeout | undefined;
  /** The handshake is done: the session accounts for the connection from then on. */
  secured: boolean;
  /** Why we closed it before its handshake was done; counted once, when it closes. */
  reason: StrangerClosure | undefined;
}

export class SiblingAdmission {
  readonly #o: SiblingAdmissionOptions;
  readonly #perAddress = new Map<string, number>();
  /** Connections whose handshake is not done yet (or just done), by keyOf(). */
  readonly #admitted = new Map<string, Admitted>();
  readonly #refusals: Tally;
  readonly #closures: Tally;
  /** Set by destroyHandshakes(): what it closes is not a stranger's doing. */
  #closing = false;

  constructor(options: SiblingAdmissionOptions) {
    this.#o = options;
    const limits = { maxConnections: options.maxConnections, maxConnectionsPerAddress: options.maxConnectionsPerAddress };
    this.#refusals = new Tally((counts, address) =>
      options.logger.warn({ refused: counts, lastAddress: address, ...limits }, 'sibling port at a connection limit: refusing new connections'),
    );
    this.#closures = new Tally((counts, address) =>
      options.logger.info({ closed: counts, lastAddress: address }, 'sibling port closed connections that did not authenticate'),
    );
  }

  /** A new TCP connection: false, and closed, when its address holds its share already. */
  admit(socket: net.Socket): boolean {
    const address = sourceAddress(socket.remoteAddress);
    if (address === undefined) {
      socket.destroy(); // already gone
      return false;
    }
    const held = this.#perAddress.get(address) ?? 0;
    if (held >= this.#o.maxConnectionsPerAddress) {
      socket.destroy();
      this.refused('per_address', address);
      return false;
    }
    this.#perAddress.set(address, held + 1);
    const key = keyOf(socket);
    const entry: Admitted = { socket, openedAt: Date.now(), timer: undefined, secured: false, reason: undefined };
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      entry.reason ??= 'sign_in_timeout';
      socket.destroy();
    }, this.#o.signInTimeoutMs);
    this.#admitted.set(key, entry);
    socket.once('close', () => {
      clearTimeout(entry.timer);
      if (this.#admitted.get(key) === entry) this.#admitted.delete(key);
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
      // A client that left before its handshake was done counts as a failed handshake.
      if (!entry.secured && !this.#closing) this.closed(entry.reason ?? 'handshake_failed', address);
    });
    return true;
  }

  /** The handshake of `socket` is done: its session takes over the sign-in timer. Returns when it was accepted. */
  secured(socket: net.Socket): number | undefined {
    const entry = this.#admitted.get(keyOf(socket));
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.secured = true;
    return entry.openedAt;
  }

  /** The TLS handshake of `socket` failed or timed out (Node only reports it): closed, and counted once. */
  handshakeFailed(socket: net.Socket, timedOut: boolean): void {
    const entry = this.#admitted.get(keyOf(socket));
    if (entry !== undefined) entry.reason ??= timedOut ? 'handshake_timeout' : 'handshake_failed';
    socket.destroy();
  }

  /** The server closes: connections still in their handshake go (they would be refused once done). */
  destroyHandshakes(): void {
    this.#closing = true;
    for (const entry of this.#admitted.values()) if (!entry.secured) entry.socket.destroy();
  }

  /** A connection closed at accept: by admit(), or by net.Server over maxConnections ('drop'). */
  refused(reason: AcceptRefusal, address: string | undefined): void {
    this.#o.metrics.siblingRefused.inc({ reason });
    this.#refusals.add(reason, sourceAddress(address));
  }

  /** A connection closed before it authenticated, or after too many failures (sessions report theirs here). */
  closed(reason: StrangerClosure, address: string | undefined): void {
    this.#o.metrics.siblingRefused.inc({ reason });
    this.#closures.add(reason, sourceAddress(address));
  }
}

/** A connection while it is open: the TLS socket over it reports the same address and port. */
function keyOf(socket: net.Socket): string {
  return `${sourceAddress(socket.remoteAddress) ?? ''}|${socket.remotePort ?? 0}`;
}

/** One source: an IPv4 client of a dual-stack listener counts as its IPv4 address. */
function sourceAddress(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') === true && address.includes('.') ? address.slice(7) : address;
}

/** Counts by reason, reported at most once per LOG_INTERVAL_MS with what accumulated since. */
class Tally {
  readonly #report: (counts: Record<string, number>, lastAddress: string | undefined) => void;
  #counts: Record<string, number> = {};
  #reportedAt = -Infinity;

  constructor(report: (counts: Record<string, number>, lastAddress: string | undefined) => void) {
    this.#report = report;
  }

  add(reason: string, address: string | undefined): void {
    this.#counts[reason] = (this.#counts[reason] ?? 0) + 1;
    const now = Date.now();
    if (now - this.#reportedAt < LOG_INTERVAL_MS) return;
    this.#report(this.#counts, address);
    this.#counts = {};
    this.#reportedAt = now;
  }
}
