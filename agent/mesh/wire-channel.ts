// A ForwardChannel over a small pool of wire connections to one destination (a peer worker's Unix
// socket: one connection; a sibling agent's TLS port: siblings.poolSize). Connections are opened
// lazily, replaced after a failure with exponential backoff, pinged while idle so a dead peer is
// noticed before a call needs it, and shared by many calls at once (the protocol multiplexes).
//
// The one place that turns a ForwardedCall into wire bytes and a wire error back into a coded
// HearthError: a request that provably never left (connect refused, Goaway before our stream,
// peer in backoff, budget already spent) carries details.notSent = true.
//
// A call goes as Mesh/Invoke — its routing in the header, its data the body as is — on a
// connection whose server said it takes it (PONG_MESH_INVOKE, asked with one Ping as the
// connection opens); until that Pong, and always to an agent of an earlier build, as
// Invoke/InvokeService with the whole InvokeRequest in the body.
import type { Logger } from 'pino';
import type { ForwardedCall, InvokeResult } from '../building-blocks/runtime-api.js';
import { isErrorCode } from '../errors/error-catalog.js';
import { HearthError } from '../errors/hearth-error.js';
import { isHearthClientError, METHODS, type MethodCodec, runtimeMethods, SERVED_BY_METADATA, type WireConnection, type WireRequestHeader } from '@hearth/protocol';
import { FORWARDED_BY_KEY, type ForwardChannel } from './forward-channel.js';

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;
const PING_EVERY_MS = 5_000;
const PING_TIMEOUT_MS = 2_000;
/** Targets remembered per connection for the hop hint (forgotten all at once past it). */
const HINTS_MAX = 1_000;

export interface WireChannelOptions {
  /** `worker:1234`, `sibling:host-2`. */
  readonly name: string;
  readonly size: number;
  /** Opens one connection; rejects (HEARTH_ERR_AGENT_UNAVAILABLE, sent false) when unreachable. */
  readonly connect: () => Promise<WireConnection>;
  /** Put in the header `token` (the cluster token to a sibling); absent on the peer-worker socket. */
  readonly token?: string | undefined;
  /** This agent's id, sent as metadata hearth-forwarded-by. */
  readonly agentId: string;
  readonly logger: Logger;
  /** Open connections changed by +1 / -1 (metrics). */
  readonly onConnections?: (delta: number) => void;
}

interface Slot {
  conn: WireConnection | undefined;
  connecting: Promise<WireConnection> | undefined;
  failures: number;
  retryAt: number;
}

export class WireChannel implements ForwardChannel {
  readonly name: string;
  readonly #o: WireChannelOptions;
  readonly #log: Logger;
  readonly #slots: Slot[];
  readonly #codec: MethodCodec;
  /** The same on every call: built once (header encoding only reads it). */
  readonly #forwardedBy: Readonly<Record<string, string>>;
  readonly #pinger: NodeJS.Timeout;
  /**
   * Per connection, per target: true when the agent behind it answered through another of its
   * workers (SERVED_BY_METADATA), false when the worker that read the call delivered it.
   */
  readonly #hops = new WeakMap<WireConnection, Map<string, boolean>>();
  #inFlight = 0;
  #closed = false;

  constructor(options: WireChannelOptions) {
    this.#o = options;
    this.name = options.name;
    this.#log = options.logger.child({ channel: options.name });
    this.#slots = Array.from({ length: Math.max(1, options.size) }, () => ({ conn: undefined, connecting: undefined, failures: 0, retryAt: 0 }));
    const codec = runtimeMethods().get(METHODS.invoke);
    if (codec === undefined) throw new Error(`${METHODS.invoke} is missing from the runtime proto`);
    this.#codec = codec;
    this.#forwardedBy = Object.freeze({ [FORWARDED_BY_KEY]: options.agentId });
    this.#pinger = setInterval(() => this.#pingIdle(), PING_EVERY_MS);
    this.#pinger.unref();
  }

  /** Forwarded calls not yet answered (a pool does not close a channel that has some). */
  get inFlight(): number {
    return this.#inFlight;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True while at least one connection is open or none has failed recently. */
  get healthy(): boolean {
    return this.#slots.some((s) => s.conn?.acceptingCalls === true || (s.failures === 0 && s.conn === undefined));
  }

  async forward(call: ForwardedCall, attempt: number, signal: AbortSignal): Promise<InvokeResult> {
    const remaining = Math.ceil(call.deadline - Date.now());
    if (remaining <= 0) throw notSent('HEARTH_ERR_TIMEOUT', `the call's deadline passed before it was forwarded to ${this.name}`);
    this.#inFlight += 1;
    try {
      return await this.#forward(call, attempt, signal);
    } finally {
      this.#inFlight -= 1;
    }
  }

  async #forward(call: ForwardedCall, attempt: number, signal: AbortSignal): Promise<InvokeResult> {
    const conn = await this.#acquire(call.target);
    const mesh = conn.meshInvoke;
    const header: WireRequestHeader = {
      method: mesh ? METHODS.meshInvoke : METHODS.invoke,
      caller: call.caller,
      deadlineMs: Math.max(1, Math.ceil(call.deadline - Date.now())),
      traceparent: call.traceparent,
      requestId: call.origin.requestId,
      idempotent: call.idempotent,
      attempt,
      metadata: this.#forwardedBy,
      ...(this.#o.token === undefined ? {} : { token: this.#o.token }),
      ...(mesh ? { invocation: { appId: call.target, method: call.method, httpVerb: call.httpVerb, contentType: call.contentType, metadata: call.metadata } } : {}),
    };
    const body = mesh
      ? call.data
      : this.#codec.serializeRequest({
          appId: call.target,
          method: call.method,
          data: call.data,
          contentType: call.contentType,
          metadata: { ...call.metadata },
          idempotent: call.idempotent,
          httpVerb: call.httpVerb,
        });
    try {
      const reply = await conn.unary(header, body, { signal });
      // One connection (the peer-worker socket) leaves nothing to steer: no hints kept.
      if (this.#slots.length > 1) this.#learn(conn, call.target, reply.header.metadata?.[SERVED_BY_METADATA] === 'worker');
      if (mesh) {
        const answer = reply.header.invocation;
        return { data: reply.body, contentType: answer?.contentType ?? '', metadata: answer?.metadata ?? {} };
      }
      const res = this.#codec.deserializeResponse(reply.body) as { data?: Buffer; contentType?: string; metadata?: Record<string, string> };
      return { data: res.data ?? Buffer.alloc(0), contentType: res.contentType ?? '', metadata: res.metadata ?? {} };
    } catch (err) {
      // Lost on this connection (timed out, cut): what it taught about reaching targets no longer
      // holds — a hung worker must not keep attracting the calls the hint steers to it.
      if (isHearthClientError(err) && err.sent && (err.code === 'HEARTH_ERR_TIMEOUT' || err.code === 'HEARTH_ERR_AGENT_UNAVAILABLE')) this.#hops.delete(conn);
      throw toForwardError(err, this.name);
    }
  }

  async close(graceMs = 1_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pinger);
    // A connect in flight sees #closed and closes what it opened.
    await Promise.all(this.#slots.map(async (s) => s.connecting?.catch(() => undefined)));
    await Promise.all(this.#slots.map(async (s) => s.conn?.close(graceMs).catch(() => undefined)));
  }

  /**
   * The open connection that best reaches `target` — one whose agent delivered it without a hop
   * between its workers, else one not asked yet, else any — with the fewest calls among those;
   * otherwise connects a free slot (lazily).
   */
  async #acquire(target: string): Promise<WireConnection> {
    if (this.#closed) throw notSent('HEARTH_ERR_AGENT_UNAVAILABLE', `the channel to ${this.name} is closed`);
    let best: WireConnection | undefined;
    let bestRank = 3;
    for (const s of this.#slots) {
      const c = s.conn;
      if (c === undefined) continue;
      if (!c.acceptingCalls) {
        this.#drop(s, c);
        continue;
      }
      const hop = this.#hops.get(c)?.get(target);
      const rank = hop === false ? 0 : hop === undefined ? 1 : 2;
      if (rank < bestRank || (rank === bestRank && best !== undefined && c.inFlight < best.inFlight)) {
        best = c;
        bestRank = rank;
      }
    }
    // Fill the pool while calls arrive: an idle connection is reused, a busy one gets company.
    const free = this.#slots.find((s) => s.conn === undefined && s.connecting === undefined && s.retryAt <= Date.now());
    // Every open connection reaches the target only through another worker of that agent: open
    // another (it may land on the worker that holds it) for the calls after this one, which goes
    // on the hop now rather than wait for a connect.
    if (best !== undefined && bestRank === 2 && free !== undefined) {
      void this.#connect(free).catch(() => undefined);
      return best;
    }
    if (best !== undefined && (best.inFlight === 0 || free === undefined)) return best;
    if (free !== undefined) {
      const connecting = this.#connect(free);
      if (best !== undefined) return best;
      return connecting;
    }
    const pending = this.#slots.find((s) => s.connecting !== undefined)?.connecting;
    if (pending !== undefined) return pending;
    throw notSent('HEARTH_ERR_AGENT_UNAVAILABLE', `${this.name} is unreachable (reconnecting with backoff)`);
  }

  #connect(slot: Slot): Promise<WireConnection> {
    const p = this.#o.connect().then(
      (conn) => {
        slot.connecting = undefined;
        if (this.#closed) {
          void conn.close(0);
          throw notSent('HEARTH_ERR_AGENT_UNAVAILABLE', `the channel to ${this.name} is closed`);
        }
        slot.conn = conn;
        slot.failures = 0;
        this.#o.onConnections?.(1);
        conn.once('close', () => this.#drop(slot, conn));
        // Its Pong says whether the server takes Mesh/Invoke; calls go as InvokeService until then.
        conn.ping(PING_TIMEOUT_MS).catch(() => undefined);
        return conn;
      },
      (err: unknown) => {
        slot.connecting = undefined;
        slot.failures += 1;
        slot.retryAt = Date.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (slot.failures - 1)) * (0.5 + Math.random() / 2);
        if (slot.failures === 1) this.#log.warn({ err }, 'cannot connect; retrying with backoff');
        throw toForwardError(err, this.name);
      },
    );
    slot.connecting = p;
    // The caller may not wait for it (another connection served its call).
    p.catch(() => undefined);
    return p;
  }

  #learn(conn: WireConnection, target: string, hop: boolean): void {
    let hints = this.#hops.get(conn);
    if (hints === undefined) this.#hops.set(conn, (hints = new Map<string, boolean>()));
    else if (hints.size >= HINTS_MAX && !hints.has(target)) hints.clear();
    if (hints.get(target) !== hop) hints.set(target, hop);
  }

  #drop(slot: Slot, conn: WireConnection): void {
    if (slot.conn !== conn) return;
    slot.conn = undefined;
    this.#o.onConnections?.(-1);
    // Let open calls finish on it; new ones go to a fresh connection.
    if (!conn.closed) void conn.close().catch(() => undefined);
  }

  #pingIdle(): void {
    for (const s of this.#slots) {
      const c = s.conn;
      if (c === undefined || c.inFlight > 0 || !c.acceptingCalls) continue;
      c.ping(PING_TIMEOUT_MS).then(
        (r) => {
          if (r.draining) this.#drop(s, c);
        },
        (err: unknown) => {
          this.#log.warn({ err }, 'ping failed; replacing the connection');
          this.#drop(s, c);
          c.destroy();
        },
      );
    }
  }
}

/** A HearthClientError from the wire client (or anything else) as the coded error the router rethrows. */
export function toForwardError(err: unknown, peer: string): HearthError {
  if (err instanceof HearthError) return err;
  if (!isHearthClientError(err)) {
    return new HearthError('HEARTH_ERR_AGENT_UNAVAILABLE', `forwarding to ${peer} failed: ${(err as Error).message}`, { peer, notSent: false });
  }
  const details: Record<string, unknown> = { ...err.details, peer };
  // A remote hop may itself report that the request never reached an app.
  details.notSent = !err.sent || err.details.notSent === 'true';
  const code = isErrorCode(err.code) ? err.code : 'HEARTH_ERR_INTERNAL';
  return new HearthError(code, err.message, details);
}

function notSent(code: 'HEARTH_ERR_TIMEOUT' | 'HEARTH_ERR_AGENT_UNAVAILABLE', message: string): HearthError {
  return new HearthError(code, message, { notSent: true });
}
