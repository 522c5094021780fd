// One wire-protocol client connection (docs/wire-protocol.md) over a Unix socket or TCP+TLS:
// many calls multiplexed by stream id, one frame each way for a unary call. The SDK uses it to
// reach its agent, and the agent uses it to forward invocations to siblings and other workers, so
// it works on bytes and headers only: no tokens, no env, no (de)serialisation of messages.
//
// Every failure is a HearthClientError whose `sent` flag says whether the request may have run:
// refused connections and streams the server's Goaway did not accept are `sent: false` (safe to
// replay anywhere); a connection lost with the request written is `sent: true`.
//
// Writes go through the FrameWriter (frame-writer.ts): the Requests a busy caller issues in one
// event-loop turn leave in one writev.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { agentUnavailable, HearthClientError, isHearthClientError } from '../errors.js';
import { MAX_TIMER_MS } from '../call-fields.js';
import { silentLogger, type ProtocolLogger } from '../logger.js';
import { FrameWriter } from './frame-writer.js';
import { encodeFrame, FrameDecoder, FrameType, HEADER_ALLOWANCE_BYTES, MAX_STREAM_ID, PONG_DRAINING, PONG_MESH_INVOKE, WireProtocolError, type Frame } from './frame.js';
import type { WireHeader } from './header.js';
import { WireStreamCall } from './wire-stream-call.js';
import { connectSocket, describeEndpoint, type WireEndpoint } from './wire-endpoint.js';

export type { WireEndpoint, WireTlsOptions } from './wire-endpoint.js';
export type { WireStreamCall } from './wire-stream-call.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_CLOSE_GRACE_MS = 5_000;
/** The agent's default limits.maxBodyBytes plus the header allowance. */
const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024 + HEADER_ALLOWANCE_BYTES;

export interface WireConnectOptions {
  readonly endpoint: WireEndpoint;
  /** Bound on connecting (and the TLS handshake). Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Largest frame sent or accepted; a larger request fails alone (BODY_TOO_LARGE, not sent). */
  readonly maxFrameBytes?: number;
  readonly logger?: ProtocolLogger;
}

/** A Request header: what the caller sets (error fields belong to responses). */
export type WireRequestHeader = Omit<WireHeader, 'errorCode' | 'errorMessage'> & { readonly method: string };

export interface WireReply {
  readonly header: WireHeader;
  readonly body: Buffer;
}

export interface WireCallOptions {
  /** Aborting sends Cancel and fails the call with HEARTH_ERR_CANCELLED. */
  readonly signal?: AbortSignal;
}

export interface WireGoaway {
  readonly code: string;
  readonly message: string;
  readonly lastStreamId: number;
}

/** What the connection keeps per open stream; WireStreamCall and unary calls implement it. */
export interface CallSink {
  message(body: Buffer): void;
  settle(err: HearthClientError | undefined, reply: WireReply | undefined): void;
}

interface OpenCall {
  readonly sink: CallSink;
  readonly method: string;
  timer: NodeJS.Timeout | undefined;
  unlisten: (() => void) | undefined;
}

interface PendingPing {
  readonly started: number;
  readonly resolve: (r: { rttMs: number; draining: boolean }) => void;
  readonly reject: (err: HearthClientError) => void;
  readonly timer: NodeJS.Timeout;
}

export interface WireConnectionEvents {
  goaway: [WireGoaway];
  /** The server answered a Pong with the DRAINING flag. */
  draining: [];
  close: [Error | undefined];
}

export class WireConnection extends EventEmitter<WireConnectionEvents> {
  readonly #socket: net.Socket;
  readonly #decoder: FrameDecoder;
  readonly #maxFrameBytes: number;
  readonly #logger: ProtocolLogger;
  readonly #calls = new Map<number, OpenCall>();
  readonly #pings = new Map<string, PendingPing>();
  readonly #closed: Promise<void>;
  readonly #writer: FrameWriter;
  #nextStreamId = 1;
  #goaway: WireGoaway | undefined;
  #draining = false;
  #meshInvoke = false;
  #closing = false;
  #isClosed = false;
  #closeReason: Error | undefined;

  /** Connects; fails with HEARTH_ERR_AGENT_UNAVAILABLE (sent false) when the peer is unreachable. */
  static async connect(options: WireConnectOptions): Promise<WireConnection> {
    const socket = await connectSocket(options.endpoint, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    return new WireConnection(socket, options);
  }

  private constructor(socket: net.Socket, options: WireConnectOptions) {
    super();
    this.#socket = socket;
    this.#writer = new FrameWriter(socket);
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#decoder = new FrameDecoder({ maxFrameBytes: this.#maxFrameBytes });
    this.#logger = (options.logger ?? silentLogger).child({ component: 'wire-connection', peer: describeEndpoint(options.endpoint) });
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      this.#closeReason ??= err;
    });
    socket.once('close', () => this.#onClose());
  }

  /** False once the connection is closing, closed, ended by the peer, told to go away, or out of stream ids. */
  get acceptingCalls(): boolean {
    // `writable` turns false as soon as the peer ends the connection, before 'close' is emitted:
    // a call refused then was provably never written (sent false).
    return !this.#isClosed && !this.#closing && this.#goaway === undefined && this.#nextStreamId <= MAX_STREAM_ID && this.#socket.writable;
  }

  get closed(): boolean {
    return this.#isClosed;
  }

  /** A Pong said the server takes `hearth.wire.v1.Mesh/Invoke` (PONG_MESH_INVOKE); false until one arrives. */
  get meshInvoke(): boolean {
    return this.#meshInvoke;
  }

  /** The server said it is draining (Pong flag or Goaway HEARTH_ERR_DRAINING). */
  get draining(): boolean {
    return this.#draining;
  }

  get goaway(): WireGoaway | undefined {
    return this.#goaway;
  }

  /** Open calls (unary and streams): for least-loaded pooling. */
  get inFlight(): number {
    return this.#calls.size;
  }

  /** One Request, one Response. Rejects with HearthClientError on an error Response or a lost connection. */
  unary(header: WireRequestHeader, body: Buffer, options: WireCallOptions = {}): Promise<WireReply> {
    return new Promise((resolve, reject) => {
      this.#open(header, body, options, {
        message: () => this.#logger.debug({ method: header.method }, 'ignoring a Message frame on a unary call'),
        settle: (err, reply) => (err ? reject(err) : resolve(reply as WireReply)),
      });
    });
  }

  /** Opens a streaming call with its first message. Failures surface through the returned call. */
  openStream(header: WireRequestHeader, body: Buffer, options: WireCallOptions = {}): WireStreamCall {
    const call = new WireStreamCall({
      send: (streamId, message) => this.#writeStreamFrame(FrameType.Message, streamId, message),
      end: (streamId) => this.#writeStreamFrame(FrameType.End, streamId),
      cancel: (streamId) => this.#cancel(streamId),
    });
    call.attach(this.#open(header, body, options, call));
    return call;
  }

  /** Round trip on stream 0; `draining` is the Pong's DRAINING flag. */
  ping(timeoutMs: number): Promise<{ rttMs: number; draining: boolean }> {
    if (this.#isClosed) return Promise.reject(agentUnavailable('the wire connection is closed', false));
    return new Promise((resolve, reject) => {
      const body = randomBytes(8);
      const key = body.toString('hex');
      const timer = setTimeout(() => {
        this.#pings.delete(key);
        reject(new HearthClientError('HEARTH_ERR_TIMEOUT', `no Pong within ${timeoutMs} ms`, { sent: true }));
      }, timeoutMs);
      this.#pings.set(key, { started: performance.now(), resolve, reject, timer });
      this.#writer.write({ type: FrameType.Ping, streamId: 0, body });
    });
  }

  /** Stops new calls, lets open ones finish (bounded by `graceMs`), then closes. Idempotent. */
  async close(graceMs = DEFAULT_CLOSE_GRACE_MS): Promise<void> {
    if (!this.#closing && !this.#isClosed) {
      this.#closing = true;
      if (this.#calls.size === 0) this.#socket.end();
      else {
        const timer = setTimeout(() => this.destroy(), graceMs);
        void this.#closed.then(() => clearTimeout(timer));
      }
    }
    await this.#closed;
  }

  /** Closes at once; open calls fail with HEARTH_ERR_AGENT_UNAVAILABLE (sent true). */
  destroy(reason?: Error): void {
    this.#closeReason ??= reason;
    this.#writer.flush(); // frames written this turn (a Cancel) still go out, as they did uncorked
    this.#socket.destroy();
  }

  #open(header: WireRequestHeader, body: Buffer, options: WireCallOptions, sink: CallSink): number {
    if (!this.acceptingCalls) {
      const why = this.#goaway ? `the server sent Goaway (${this.#goaway.code})` : 'the wire connection is closed';
      sink.settle(agentUnavailable(`${why}; the call was not sent`, false), undefined);
      return 0;
    }
    if (options.signal?.aborted) {
      sink.settle(new HearthClientError('HEARTH_ERR_CANCELLED', 'the call was cancelled before it was sent', { sent: false }), undefined);
      return 0;
    }
    let frame: Buffer;
    const streamId = this.#nextStreamId;
    try {
      frame = encodeFrame({ type: FrameType.Request, streamId, header, body });
    } catch (err) {
      sink.settle(new HearthClientError('HEARTH_ERR_MALFORMED_REQUEST', `the request header could not be encoded: ${(err as Error).message}`, { sent: false }), undefined);
      return 0;
    }
    if (frame.length - 4 > this.#maxFrameBytes) {
      sink.settle(new HearthClientError('HEARTH_ERR_BODY_TOO_LARGE', `the request frame of ${frame.length} bytes exceeds the limit of ${this.#maxFrameBytes}`, { sent: false }), undefined);
      return 0;
    }
    this.#nextStreamId += 1;
    const call: OpenCall = { sink, method: header.method, timer: undefined, unlisten: undefined };
    this.#calls.set(streamId, call);
    const deadlineMs = header.deadlineMs ?? 0;
    if (deadlineMs > 0) {
      // The server refuses spent budgets, but a hung peer must not hold the caller past its deadline.
      // Clamped to setTimeout's range (2^31-1 ms): beyond it the timer would fire at once.
      call.timer = setTimeout(() => this.#abandon(streamId, 'HEARTH_ERR_TIMEOUT', `no response within the ${deadlineMs} ms deadline`), Math.min(deadlineMs, MAX_TIMER_MS));
    }
    const signal = options.signal;
    if (signal) {
      const onAbort = (): void => this.#abandon(streamId, 'HEARTH_ERR_CANCELLED', 'the caller cancelled the call');
      signal.addEventListener('abort', onAbort, { once: true });
      call.unlisten = () => signal.removeEventListener('abort', onAbort);
    }
    this.#writer.writeEncoded(frame);
    return streamId;
  }

  /** The client gives up on a call: tell the server (Cancel) and fail it locally with `code`. */
  #abandon(streamId: number, code: string, message: string): void {
    if (!this.#calls.has(streamId)) return;
    this.#writeStreamFrame(FrameType.Cancel, streamId);
    this.#settle(streamId, new HearthClientError(code, message, { sent: true }), undefined);
  }

  #cancel(streamId: number): void {
    if (!this.#calls.has(streamId)) return;
    this.#writeStreamFrame(FrameType.Cancel, streamId);
    this.#settle(streamId, undefined, { header: {}, body: Buffer.alloc(0) });
  }

  #writeStreamFrame(type: FrameType, streamId: number, body?: Buffer): void {
    if (!this.#calls.has(streamId)) return;
    this.#writer.write({ type, streamId, ...(body ? { body } : {}) });
  }

  #settle(streamId: number, err: HearthClientError | undefined, reply: WireReply | undefined): void {
    const call = this.#calls.get(streamId);
    if (!call) return;
    this.#calls.delete(streamId);
    if (call.timer) clearTimeout(call.timer);
    call.unlisten?.();
    call.sink.settle(err, reply);
    // After Goaway or close(), the connection ends once the last accepted call is answered.
    if (this.#calls.size === 0 && (this.#closing || this.#goaway) && !this.#isClosed) this.#socket.end();
  }

  #onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (err) {
      const code = err instanceof WireProtocolError ? err.code : 'HEARTH_ERR_MALFORMED_FRAME';
      this.#logger.warn({ err, code }, 'the server sent a malformed frame; closing the connection');
      this.destroy(err as Error);
      return;
    }
    for (const frame of frames) this.#onFrame(frame);
  }

  #onFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Response:
        this.#onResponse(frame);
        return;
      case FrameType.Message:
        this.#calls.get(frame.streamId)?.sink.message(frame.body);
        return;
      case FrameType.Ping:
        this.#writer.write({ type: FrameType.Pong, streamId: 0, body: frame.body });
        return;
      case FrameType.Pong:
        this.#onPong(frame);
        return;
      case FrameType.Goaway:
        this.#onGoaway(frame);
        return;
      default:
        // Request, Cancel, End travel client → server only: a peer sending them is broken.
        this.#logger.warn({ type: frame.type, streamId: frame.streamId }, 'the server sent a client-only frame; closing the connection');
        this.destroy(new WireProtocolError('HEARTH_ERR_MALFORMED_FRAME', `unexpected frame type ${frame.type} from the server`));
    }
  }

  #onResponse(frame: Frame): void {
    const { header } = frame;
    if (header.errorCode) {
      const details: Record<string, string> = {};
      for (const [k, v] of Object.entries(header.metadata ?? {})) if (k.startsWith('detail.')) details[k.slice('detail.'.length)] = v;
      const err = new HearthClientError(header.errorCode, header.errorMessage ?? header.errorCode, { details, sent: true });
      this.#settle(frame.streamId, err, undefined);
    } else {
      this.#settle(frame.streamId, undefined, { header, body: frame.body });
    }
  }

  #onPong(frame: Frame): void {
    const key = frame.body.toString('hex');
    const ping = this.#pings.get(key);
    const draining = (frame.flags & PONG_DRAINING) !== 0;
    if ((frame.flags & PONG_MESH_INVOKE) !== 0) this.#meshInvoke = true;
    if (draining && !this.#draining) {
      this.#draining = true;
      this.emit('draining');
    }
    if (!ping) return;
    this.#pings.delete(key);
    clearTimeout(ping.timer);
    ping.resolve({ rttMs: performance.now() - ping.started, draining });
  }

  #onGoaway(frame: Frame): void {
    const goaway: WireGoaway = {
      code: frame.header.errorCode ?? 'HEARTH_ERR_DRAINING',
      message: frame.header.errorMessage ?? 'the server is going away',
      lastStreamId: frame.streamId,
    };
    this.#goaway = goaway;
    if (goaway.code === 'HEARTH_ERR_DRAINING') this.#draining = true;
    this.#logger.info({ code: goaway.code, lastStreamId: goaway.lastStreamId, open: this.#calls.size }, 'server sent Goaway');
    for (const id of [...this.#calls.keys()]) {
      if (id > goaway.lastStreamId) {
        this.#settle(id, agentUnavailable(`the server went away (${goaway.code}) before processing the call`, false), undefined);
      }
    }
    this.emit('goaway', goaway);
    if (this.#calls.size === 0 && !this.#isClosed) this.#socket.end();
  }

  #onClose(): void {
    this.#isClosed = true;
    const truncated = this.#decoder.pending > 0 ? `, in the middle of a frame (${this.#decoder.pending} bytes)` : '';
    const why = this.#closeReason ? `: ${this.#closeReason.message}` : '';
    for (const id of [...this.#calls.keys()]) {
      const call = this.#calls.get(id) as OpenCall;
      this.#settle(id, agentUnavailable(`the connection closed${truncated} while ${call.method} was in flight${why}`, true, this.#closeReason), undefined);
    }
    for (const ping of this.#pings.values()) {
      clearTimeout(ping.timer);
      ping.reject(agentUnavailable(`the connection closed before the Pong${why}`, true));
    }
    this.#pings.clear();
    this.emit('close', this.#closeReason);
  }
}

/** The agent never processed it: it answered a Goaway whose last accepted stream is below ours. */
export function notAcceptedBeforeGoaway(err: unknown, connection: WireConnection): boolean {
  return isHearthClientError(err) && !err.sent && err.code === 'HEARTH_ERR_AGENT_UNAVAILABLE' && connection.goaway !== undefined;
}
