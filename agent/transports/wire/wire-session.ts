// One wire-protocol connection on the server side (docs/wire-protocol.md): decodes frames, keeps
// the table of open streams, dispatches Requests to the unary method table or a stream handler,
// and answers Ping, Cancel and End. A protocol violation is answered with Goaway and closes this
// connection only; every other failure is a coded Response on its own stream.
//
// Backpressure: while the socket's write buffer is over its high-water mark the session stops
// reading, so a client that does not read its answers cannot make us buffer them without bound;
// streams that push (subscriptions) see send() return false and queue on their own terms.
//
// Writes go through the protocol's FrameWriter: the Responses produced while one batch of I/O
// callbacks runs leave in one writev, in the order they were written.
//
// Over-quota floods: a call refused by its app's quota (HEARTH_ERR_RESOURCE_EXHAUSTED) is still
// answered at once, and then this connection is not read until the refused limit could admit
// again (quotaRetryAfterMs, at most MAX_QUOTA_PAUSE_MS). Refusing is cheap but not free, so a
// client that retries in a tight loop would otherwise keep the worker busy refusing it; paused,
// it waits in its own socket buffer. Other connections, including the same app's, are unaffected;
// frames already read (the rest of the chunk) are still handled.
//
// Before authentication (deps.preAuth, the TCP sibling port only: wire.sock's permissions are its
// gate): until a Request on the connection is authenticated, frames and the bytes held for an
// incomplete one are limited to preAuth.maxFrameBytes, and the connection is closed if no
// authenticated Request arrives within preAuth.timeoutMs of its accept (`openedAt`: the TLS
// handshake counts) — a stranger cannot hold a frame buffer of maxBodyBytes, or a connection, for
// free. After preAuth.maxFailures Requests that failed to authenticate (before or after one that
// did) the connection is closed too, so guessing costs a new connection every few tries.
import type net from 'node:net';
import type { Logger } from 'pino';
import { encodeHeader, FrameWriter, MAX_TIMER_MS, METHODS, type Frame, FrameDecoder, type FrameInput, FrameType, HEADER_ALLOWANCE_BYTES, type MethodCodec, PONG_DRAINING, PONG_MESH_INVOKE, PRELUDE_BYTES, runtimeMethods, SERVED_BY_METADATA, type WireHeader, type WireInvocation, WireProtocolError } from '@hearth/protocol';
import type { ForwardedBy, RuntimeApi } from '../../building-blocks/runtime-api.js';
import type { AppConfig } from '../../config/load-config.js';
import { quotaRetryAfterMs } from '../../apps/app-quotas.js';
import { HearthError, toHearthError } from '../../errors/hearth-error.js';
import { INVOKE_FORWARDED_API, runForwardedInvoke, type InvokeRequestMsg } from '../methods/invoke-methods.js';
import type { MethodTable } from '../methods/unary-method.js';
import { errorHeader, WireCall, type WireCallDeps, type WirePrincipal } from './wire-call.js';
import type { WireStreamFactory, WireStreamHandler, WireStreamPort } from './wire-stream.js';
import { STREAM_METHODS } from './wire-stream-methods.js';
import type { TurnShare } from './turn-share.js';

export const DEFAULT_FRAME_TIMEOUT_MS = 30_000;
/** How long a connection we closed may linger before it is destroyed (the peer should hang up). */
const CLOSE_LINGER_MS = 5_000;
const MAX_PING_BYTES = 64;
/** Frames of one connection handled in one event-loop turn, at most. */
const FRAMES_PER_TURN = 64;
/** Longest a connection is left unread after a quota refusal. */
const MAX_QUOTA_PAUSE_MS = 100;

/** What every session of one server shares. */
export interface WireSessionDeps extends WireCallDeps {
  readonly api: RuntimeApi;
  readonly unary: MethodTable;
  /** limits.maxBodyBytes: frames up to this plus the header allowance are accepted. */
  readonly maxBodyBytes: number;
  /** A frame incomplete for longer than this closes the connection. */
  readonly frameTimeoutMs?: number | undefined;
  /** Metrics label of a call whose caller is not established (failed authentication). */
  readonly anonymousLabel: string;
  /** Limits until the first authenticated Request (see the header); none when undefined. */
  readonly preAuth?: PreAuthLimits | undefined;
  /**
   * A connection that received no frame for this long while it has nothing open is told to go
   * (Goaway HEARTH_ERR_RESOURCE_EXHAUSTED) and closed: idle connections are an app's to hold only
   * within its budget. Pings count as frames. None when undefined.
   */
  readonly idleTimeoutMs?: number | undefined;
  /**
   * Refuses (throws a coded error) a method the principal may not call. Absent (an app's own
   * socket): an agent principal is refused outright.
   */
  readonly authorize?: ((principal: WirePrincipal, method: string) => void) | undefined;
  /** The app's share of each event-loop turn, shared by all its connections (turn-share.ts); none when undefined. */
  readonly turnShare?: TurnShare | undefined;
  /**
   * Takes forwarded invocations with their routing in the header (`hearth.wire.v1.Mesh/Invoke`)
   * and says so in every Pong (PONG_MESH_INVOKE): the sibling port and the peer socket.
   */
  readonly meshInvoke?: boolean | undefined;
}

export interface PreAuthLimits {
  /** Largest frame (and largest incomplete frame held) before authentication. */
  readonly maxFrameBytes: number;
  /** A connection with no authenticated Request this long after it opened is closed. */
  readonly timeoutMs: number;
  /** Requests refused by identify() after which the connection is closed. */
  readonly maxFailures: number;
  /** Told when a connection is closed for either reason, after its Goaway. */
  readonly onClosed?: ((reason: 'sign_in_timeout' | 'auth_failures', remoteAddress: string | undefined) => void) | undefined;
}

/** Establishes who sent a Request (per connection: TLS state differs). Throws a coded error. */
export type Identify = (header: WireHeader, method: string) => WirePrincipal;

interface OpenStream {
  readonly call: WireCall;
  /** Undefined for Mesh/Invoke, whose body is not a message. */
  readonly codec: MethodCodec | undefined;
  handler: WireStreamHandler;
  /** The app whose stream it is: its messages are admitted under its quotas. */
  readonly app?: AppConfig;
}

export class WireSession {
  readonly #socket: net.Socket;
  readonly #deps: WireSessionDeps;
  readonly #identify: Identify;
  readonly #log: Logger;
  readonly #decoder: FrameDecoder;
  readonly #streams = new Map<number, OpenStream>();
  readonly #writable = new Set<() => void>();
  /** The last stream our Goaway reports as accepted (frozen once draining). */
  #lastAccepted = 0;
  /** The highest stream id a Request opened; the next must be greater. */
  #lastOpened = 0;
  readonly #writer: FrameWriter;
  #draining = false;
  #closed = false;
  #frameTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  /** Set while reading is paused after a quota refusal. */
  #quotaTimer: NodeJS.Timeout | undefined;
  /** A stream message over its app's quota waits at the head of the backlog until the quota could take it. */
  #held = false;
  /** The app of this connection's last authenticated Request: stray messages are charged to it. */
  #app: AppConfig | undefined;
  /** False until a Request is authenticated, when deps.preAuth applies. */
  #authenticated: boolean;
  #authTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #lastFrameAt = Date.now();
  /** Frames read and not handled yet (see #handleBacklog), in arrival order. */
  readonly #backlog: Frame[] = [];
  #authFailures = 0;

  /** `openedAt` (epoch ms): when the connection was accepted, if before now (a TLS handshake came first). */
  constructor(socket: net.Socket, deps: WireSessionDeps, identify: Identify, logger: Logger, openedAt = Date.now()) {
    this.#socket = socket;
    this.#writer = new FrameWriter(socket);
    this.#deps = deps;
    this.#identify = identify;
    this.#log = logger;
    this.#decoder = new FrameDecoder({ maxFrameBytes: deps.maxBodyBytes + HEADER_ALLOWANCE_BYTES });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (err) => this.#log.debug({ err }, 'wire connection error'));
    socket.once('close', () => this.#onClose());
    const preAuth = deps.preAuth;
    this.#authenticated = preAuth === undefined;
    if (preAuth !== undefined) {
      const left = Math.max(0, preAuth.timeoutMs - (Date.now() - openedAt));
      this.#authTimer = setTimeout(() => this.#authTimedOut(preAuth.timeoutMs), left);
    }
    const idleMs = deps.idleTimeoutMs;
    if (idleMs !== undefined) this.#scheduleIdleCheck(idleMs, idleMs);
  }

  #scheduleIdleCheck(idleMs: number, inMs: number): void {
    this.#idleTimer = setTimeout(() => this.#idleCheck(idleMs), inMs);
    this.#idleTimer.unref();
  }

  #idleCheck(idleMs: number): void {
    this.#idleTimer = undefined;
    if (this.#closed || this.#draining) return;
    const quiet = Date.now() - this.#lastFrameAt;
    if (this.#streams.size > 0 || quiet < idleMs) {
      this.#scheduleIdleCheck(idleMs, Math.max(1_000, idleMs - quiet));
      return;
    }
    // Goaway first: a Request racing it is answered "not processed" and replayed elsewhere.
    this.#draining = true;
    this.#write({
      type: FrameType.Goaway,
      streamId: this.#lastAccepted,
      header: { errorCode: 'HEARTH_ERR_RESOURCE_EXHAUSTED', errorMessage: `idle for ${idleMs} ms (budgets.idleTimeoutMs): closed; open a new connection when needed` },
    });
    this.#closeWhenIdle();
  }

  /** Streams open right now. */
  get streams(): number {
    return this.#streams.size;
  }

  /**
   * Graceful: Goaway HEARTH_ERR_DRAINING, unary calls in flight complete, streams end with their
   * drain codes (a callback stream first waits up to streamGraceMs for the answers it is owed;
   * Messages on open streams are still read); the connection closes once nothing is open.
   */
  drain(streamGraceMs = 0): void {
    if (this.#draining || this.#closed) return;
    this.#draining = true;
    this.#write({
      type: FrameType.Goaway,
      streamId: this.#lastAccepted,
      header: { errorCode: 'HEARTH_ERR_DRAINING', errorMessage: 'this agent generation is draining; open a new connection' },
    });
    for (const s of [...this.#streams.values()]) s.handler.drain(streamGraceMs);
    this.#closeWhenIdle();
  }

  destroy(): void {
    this.#writer.flush(); // frames written this turn (a Goaway) still go out, as they did uncorked
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return; // after Goaway: read and drop until the peer hangs up
    this.#lastFrameAt = Date.now();
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (err) {
      this.#protocolError(err);
      return;
    }
    this.#watchPartialFrame(frames.length > 0);
    // Behind what is still waiting: frames are handled in the order they came.
    for (const f of frames) this.#backlog.push(f);
    if (this.#backlog.length === frames.length) this.#handleBacklog();
    // Checked after the frames: a Request among them may have authenticated the connection.
    const limit = this.#deps.preAuth?.maxFrameBytes ?? Infinity;
    if (!this.#authenticated && !this.#closed && this.#decoder.pending > limit) {
      this.#protocolError(new WireProtocolError('HEARTH_ERR_BODY_TOO_LARGE', `before authentication frames are limited to ${limit} bytes`));
    }
  }

  /**
   * At most FRAMES_PER_TURN frames of one connection in one event-loop turn: a client that
   * pipelines thousands of Requests in one read gets the rest handled on later turns (its socket
   * paused meanwhile), so other connections — other apps — get their turns in between. The app's
   * connections together handle at most its turn share (deps.turnShare).
   */
  #handleBacklog(): void {
    let handled = 0;
    const share = this.#deps.turnShare;
    while (handled < FRAMES_PER_TURN && this.#backlog.length > 0) {
      if (this.#closed) {
        this.#backlog.length = 0;
        return;
      }
      if (this.#held) return; // the quota timer carries on
      if (share !== undefined && !share.take()) break;
      const frame = this.#backlog.shift() as Frame;
      handled += 1;
      try {
        if (!this.#authenticated) this.#checkPreAuthFrame(frame);
        this.#onFrame(frame);
      } catch (err) {
        this.#protocolError(err);
      }
    }
    if (this.#backlog.length === 0 || this.#closed || this.#held) return;
    this.#socket.pause();
    setImmediate(() => {
      this.#handleBacklog();
      if (this.#backlog.length === 0 && this.#quotaTimer === undefined && !this.#held && !this.#closed && !this.#socket.writableNeedDrain) this.#socket.resume();
    });
  }



  /** A frame before authentication: at most preAuth.maxFrameBytes (its length field's value). */
  #checkPreAuthFrame(frame: Frame): void {
    const limit = this.#deps.preAuth?.maxFrameBytes ?? Infinity;
    const length = PRELUDE_BYTES + encodeHeader(frame.header).length + frame.body.length;
    if (length > limit) {
      throw new WireProtocolError('HEARTH_ERR_BODY_TOO_LARGE', `frame of ${length} bytes before authentication; the limit is ${limit} until a Request is authenticated`);
    }
  }

  #authTimedOut(ms: number): void {
    this.#authTimer = undefined;
    if (this.#closed || this.#authenticated) return;
    this.#log.info({ timeoutMs: ms }, 'wire connection closed: no authenticated Request in time');
    this.#closeUnauthenticated('sign_in_timeout', `no authenticated Request within ${ms} ms of connecting`);
  }

  /** A Request identify() refused: the connection is closed at preAuth.maxFailures. */
  #authFailed(): void {
    const preAuth = this.#deps.preAuth;
    if (preAuth === undefined || this.#closed) return;
    this.#authFailures += 1;
    if (this.#authFailures < preAuth.maxFailures) return;
    this.#log.info({ failures: this.#authFailures }, 'wire connection closed: too many failed authentications');
    this.#closeUnauthenticated('auth_failures', `${this.#authFailures} failed authentications on this connection`);
  }

  #closeUnauthenticated(reason: 'sign_in_timeout' | 'auth_failures', message: string): void {
    this.#write({ type: FrameType.Goaway, streamId: this.#lastAccepted, header: { errorCode: 'HEARTH_ERR_UNAUTHENTICATED', errorMessage: message } });
    this.#cancelAll('the connection closed for want of authentication');
    this.#end();
    this.#deps.preAuth?.onClosed?.(reason, this.#socket.remoteAddress);
  }

  #authenticatedNow(): void {
    this.#authenticated = true;
    clearTimeout(this.#authTimer);
    this.#authTimer = undefined;
  }

  /** A partial frame may wait frameTimeoutMs for its remaining bytes, counted from its first byte. */
  #watchPartialFrame(completedSome: boolean): void {
    if (this.#decoder.pending === 0 || completedSome) {
      clearTimeout(this.#frameTimer);
      this.#frameTimer = undefined;
    }
    if (this.#decoder.pending === 0 || this.#frameTimer !== undefined) return;
    const ms = this.#deps.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS;
    this.#frameTimer = setTimeout(() => {
      this.#log.info({ pendingBytes: this.#decoder.pending, timeoutMs: ms }, 'wire connection closed: a frame stayed incomplete (truncated)');
      this.#protocolError(new WireProtocolError('HEARTH_ERR_MALFORMED_FRAME', `a frame stayed incomplete for ${ms} ms`));
    }, ms);
  }

  #onFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Request:
        return this.#onRequest(frame);
      case FrameType.Message:
        return this.#onMessage(frame);
      case FrameType.Cancel:
        return this.#onCancel(frame.streamId);
      case FrameType.End:
        this.#streams.get(frame.streamId)?.handler.end();
        return;
      case FrameType.Ping:
        if (frame.streamId !== 0) throw malformed(`Ping on stream ${frame.streamId}; connection frames use stream 0`);
        if (frame.body.length > MAX_PING_BYTES) throw malformed(`Ping body of ${frame.body.length} bytes; at most ${MAX_PING_BYTES}`);
        this.#write({ type: FrameType.Pong, streamId: 0, flags: (this.#draining ? PONG_DRAINING : 0) | (this.#deps.meshInvoke === true ? PONG_MESH_INVOKE : 0), body: frame.body });
        return;
      case FrameType.Pong:
        return; // we send no Pings; an unsolicited Pong is harmless
      default:
        // Response and Goaway travel server → client only.
        throw malformed(`frame type ${frame.type} is not sent by clients`);
    }
  }

  #onRequest(frame: Frame): void {
    const { streamId, header, body } = frame;
    if (streamId === 0) throw malformed('Request on stream 0; calls use stream ids from 1');
    // Strictly increasing ids: a reused id could be mistaken for a call our Goaway already covered.
    if (streamId <= this.#lastOpened) throw malformed(`Request on stream ${streamId}; stream ids must increase (last opened ${this.#lastOpened})`);
    this.#lastOpened = streamId;
    const method = header.method ?? '';
    const codec = runtimeMethods().get(method);
    // Own properties only: a method named `constructor` must not find Object's.
    const unary = Object.hasOwn(this.#deps.unary, method) ? this.#deps.unary[method] : undefined;
    const stream = Object.hasOwn(STREAM_METHODS, method) ? STREAM_METHODS[method] : undefined;
    const mesh = method === METHODS.meshInvoke && this.#deps.meshInvoke === true;
    const call = new WireCall(this.#deps, header, unary?.api ?? stream?.api ?? (mesh ? INVOKE_FORWARDED_API : 'wire.unknown'), body.length, Date.now());
    if (this.#draining) {
      // Past our Goaway's last stream (ids increase): not processed; the client replays it on a new connection.
      return this.#respondError(streamId, call, new HearthError('HEARTH_ERR_DRAINING', 'this connection is draining; the call was not processed'));
    }
    this.#lastAccepted = streamId;
    if (!mesh && (codec === undefined || (unary === undefined && stream === undefined))) {
      call.beginAs(this.#deps.anonymousLabel, undefined);
      return this.#respondError(streamId, call, new HearthError('HEARTH_ERR_NOT_FOUND', `no method "${method.slice(0, 128)}"`));
    }
    let principal: WirePrincipal;
    try {
      principal = this.#identify(header, method);
      if (!this.#authenticated) this.#authenticatedNow();
    } catch (err) {
      call.beginAs(this.#deps.anonymousLabel, undefined);
      this.#respondError(streamId, call, err);
      return this.#authFailed();
    }
    try {
      if (principal.kind === 'app') {
        call.beginAs(principal.app.id, principal);
        this.#app = principal.app;
      }
      else call.beginAs(principal.callerAppId, principal, INVOKE_FORWARDED_API);
      if (this.#deps.authorize !== undefined) this.#deps.authorize(principal, method);
      else if (principal.kind === 'agent') throw new HearthError('HEARTH_ERR_PERMISSION_DENIED', 'this connection does not take forwarded calls');
      if (mesh) {
        if (principal.kind !== 'agent') throw new HearthError('HEARTH_ERR_PERMISSION_DENIED', 'Mesh/Invoke is for agents forwarding an invocation');
        call.checkDeadline();
        return this.#runMeshInvoke(streamId, call, principal, header, body);
      }
      if (codec === undefined) throw new HearthError('HEARTH_ERR_NOT_FOUND', `no method "${method.slice(0, 128)}"`);
      const request = decodeRequest(codec, body);
      call.checkDeadline();
      if (stream !== undefined && principal.kind === 'app') return this.#openStream(streamId, call, codec, principal.app, stream.start, request);
      this.#runUnary(streamId, call, codec, principal, request);
    } catch (err) {
      this.#respondError(streamId, call, err);
      this.#pauseAfterQuotaRefusal(err);
    }
  }

  /** See the header: the refused client's next frames wait until its quota could admit them. */
  #pauseAfterQuotaRefusal(err: unknown): void {
    const ms = quotaRetryAfterMs(err);
    if (ms !== undefined) this.#pauseReading(ms);
  }

  #pauseReading(ms: number): void {
    if (this.#quotaTimer !== undefined || this.#closed) return;
    this.#socket.pause();
    this.#quotaTimer = setTimeout(() => {
      this.#quotaTimer = undefined;
      // Still over the write high-water mark: 'drain' resumes reading instead.
      if (!this.#closed && !this.#held && this.#backlog.length === 0 && !this.#socket.writableNeedDrain) this.#socket.resume();
    }, Math.min(ms, MAX_QUOTA_PAUSE_MS));
  }

  #runUnary(streamId: number, call: WireCall, codec: MethodCodec, principal: WirePrincipal, request: unknown): void {
    const api = this.#deps.api;
    const unary = Object.hasOwn(this.#deps.unary, codec.path) ? this.#deps.unary[codec.path] : undefined;
    this.#answer(streamId, call, codec, async () => {
      // The call itself is the origin: its logger and AbortController are made only if used.
      if (principal.kind === 'agent') {
        // authorize() admits agents to Invoke only; a request of another shape never runs as one.
        if (codec.path !== METHODS.invoke) throw new HearthError('HEARTH_ERR_PERMISSION_DENIED', 'agents may only forward Invoke/InvokeService');
        const forwarded = await runForwardedInvoke(api, principal, call, request as InvokeRequestMsg);
        return { body: codec.serializeResponse(forwarded.response), servedByWorker: forwarded.viaPeerWorker };
      }
      if (unary === undefined) throw new HearthError('HEARTH_ERR_NOT_FOUND', `no method "${codec.path}"`);
      return { body: codec.serializeResponse(await unary.run(call.ctx(principal.app), request)) };
    });
  }

  /**
   * Mesh/Invoke: the routing is the header's `invocation`, the data is the body, both forwarded as
   * they came; the answer's data is the Response body, its content type and metadata the header's.
   */
  #runMeshInvoke(streamId: number, call: WireCall, by: ForwardedBy, header: WireHeader, body: Buffer): void {
    const invocation = header.invocation;
    if (invocation === undefined) throw new HearthError('HEARTH_ERR_MALFORMED_REQUEST', 'Mesh/Invoke carries its target in the header field `invocation`');
    this.#answer(streamId, call, undefined, async () => {
      const result = await this.#deps.api.invoke.deliverForwarded(by, call, {
        appId: invocation.appId ?? '',
        method: invocation.method ?? '',
        data: body,
        contentType: invocation.contentType,
        metadata: invocation.metadata,
        idempotent: header.idempotent === true,
        httpVerb: invocation.httpVerb,
      });
      const answer: WireInvocation = { contentType: result.contentType, metadata: result.metadata };
      return { body: result.data, invocation: answer, servedByWorker: result.viaPeerWorker === true };
    });
  }

  /** Runs a unary call and writes its Response (or its error): at most once, within its deadline. */
  #answer(streamId: number, call: WireCall, codec: MethodCodec | undefined, produce: () => Promise<UnaryAnswer>): void {
    // A unary call takes no more messages and completes during a drain; cancel aborts call.signal.
    this.#streams.set(streamId, { call, codec, handler: IDLE_HANDLER });
    // The caller's budget bounds our answer even if the work ignores the signal.
    const timer = call.deadline === undefined ? undefined : setTimeout(() => {
      this.#respondError(streamId, call, new HearthError('HEARTH_ERR_TIMEOUT', 'the call did not complete within its deadline'));
    }, Math.min(call.deadline - Date.now(), MAX_TIMER_MS));
    produce()
      .then((answer) => {
        if (call.done) return;
        const header = call.okHeader(answer.body.length);
        if (answer.invocation !== undefined) header.invocation = answer.invocation;
        if (answer.servedByWorker === true) header.metadata = SERVED_BY_WORKER;
        this.#finishStream(streamId, { type: FrameType.Response, streamId, header, body: answer.body });
      })
      .catch((err: unknown) => this.#respondError(streamId, call, err))
      .finally(() => clearTimeout(timer));
  }

  #openStream(streamId: number, call: WireCall, codec: MethodCodec, app: AppConfig, start: WireStreamFactory, first: unknown): void {
    const ctx = call.ctx(app);
    const budgets = this.#deps.budgets;
    // The stream holds its place in the app's budget until it ends, however it ends.
    if (budgets !== undefined) call.hold(budgets.stream(app));
    const port: WireStreamPort = {
      call,
      ctx,
      codec,
      budgets,
      send: (message) => {
        if (call.done || this.#streams.get(streamId)?.call !== call) return false;
        const bytes = codec.serializeResponse(message);
        call.addBytesOut(bytes.length);
        return this.#write({ type: FrameType.Message, streamId, body: bytes });
      },
      onWritable: (listener) => void this.#writable.add(listener),
      finish: (err) => {
        if (call.done || this.#streams.get(streamId)?.call !== call) return;
        const header = err === undefined ? call.okHeader() : call.failHeader(err);
        this.#finishStream(streamId, { type: FrameType.Response, streamId, header });
      },
    };
    // Registered before start, which may finish the stream at once.
    const entry: OpenStream = { call, codec, handler: IDLE_HANDLER, app };
    this.#streams.set(streamId, entry);
    try {
      entry.handler = start(port, this.#deps.api, first);
    } catch (err) {
      port.finish(err);
    }
  }

  #onMessage(frame: Frame): void {
    const open = this.#streams.get(frame.streamId);
    if (open === undefined || open.handler === IDLE_HANDLER) {
      // The stream ended while the message was on its way, or a unary call (which takes one
      // message): not decoded, but its bytes were read, and count against the app's quota.
      if (this.#app !== undefined) this.#deps.quotas?.charge?.(this.#app, frame.body.length);
      return;
    }
    if (open.app !== undefined && !this.#admitMessage(open, frame.body.length)) {
      this.#hold(frame, open.app);
      return;
    }
    let request: unknown;
    try {
      if (open.codec === undefined) throw new HearthError('HEARTH_ERR_MALFORMED_REQUEST', 'this call takes no messages');
      request = decodeRequest(open.codec, frame.body);
    } catch (err) {
      // A bad message fails its stream, not the connection.
      open.handler.cancel();
      return this.#respondError(frame.streamId, open.call, err);
    }
    open.handler.message(request);
  }


  /**
   * Each message an app sends on a stream counts like a request. An app's answers to invocations
   * (callback results) are charged, never refused — refusing one would fail another app's call;
   * anything else over quota waits (see #hold), never dropped: an ack held back is an ack late,
   * where an ack dropped would be a redelivery of work done, and an attempt towards the dead-letter topic.
   */
  #admitMessage(open: OpenStream, bytes: number): boolean {
    const quotas = this.#deps.quotas;
    const app = open.app;
    if (quotas === undefined || app === undefined) return true;
    if (open.codec?.path === METHODS.callbackConnect) {
      quotas.charge?.(app, bytes, 1);
      return true;
    }
    return quotas.admitMessage?.(app, bytes) !== false;
  }

  /** Puts `frame` back at the head of the backlog and stops reading until the app's quota could admit it. */
  #hold(frame: Frame, app: AppConfig): void {
    this.#backlog.unshift(frame);
    if (this.#held) return;
    this.#held = true;
    this.#socket.pause();
    const rps = app.quota.requestsPerSecond;
    const timer = setTimeout(() => {
      this.#held = false;
      if (this.#closed) return;
      this.#handleBacklog();
      if (!this.#held && this.#backlog.length === 0 && this.#quotaTimer === undefined && !this.#socket.writableNeedDrain) this.#socket.resume();
    }, rps > 0 ? Math.min(MAX_QUOTA_PAUSE_MS, Math.ceil(1000 / rps)) : MAX_QUOTA_PAUSE_MS);
    timer.unref();
  }

  #onCancel(streamId: number): void {
    const open = this.#streams.get(streamId);
    if (open === undefined) return;
    this.#streams.delete(streamId);
    open.handler.cancel();
    open.call.cancelled();
    this.#closeWhenIdle();
  }

  #respondError(streamId: number, call: WireCall, err: unknown): void {
    if (call.done) return;
    this.#finishStream(streamId, { type: FrameType.Response, streamId, header: call.failHeader(err) });
  }

  #finishStream(streamId: number, response: FrameInput): void {
    this.#streams.delete(streamId);
    this.#write(response);
    this.#closeWhenIdle();
  }

  #write(frame: FrameInput): boolean {
    if (this.#closed || this.#socket.destroyed || this.#socket.writableEnded) return false;
    const ok = this.#writer.write(frame);
    if (!ok && !this.#socket.isPaused()) this.#socket.pause();
    return ok;
  }


  #onDrain(): void {
    if (!this.#closed && this.#quotaTimer === undefined && !this.#held && this.#backlog.length === 0) this.#socket.resume();
    const listeners = [...this.#writable];
    this.#writable.clear();
    for (const l of listeners) l();
  }

  #closeWhenIdle(): void {
    if (this.#draining && !this.#closed && this.#streams.size === 0) this.#end();
  }

  /** Goaway with the violation's code, then close: other connections are not affected. */
  #protocolError(err: unknown): void {
    if (this.#closed) return;
    // Anything but a WireProtocolError here is our own bug: still close this connection only.
    const header: WireHeader =
      err instanceof WireProtocolError ? { errorCode: err.code, errorMessage: err.message } : errorHeader(toHearthError(err));
    if (err instanceof WireProtocolError) this.#log.info({ code: err.code, message: err.message }, 'wire protocol error: closing the connection');
    else this.#log.error({ err }, 'wire session failed: closing the connection');
    this.#write({ type: FrameType.Goaway, streamId: this.#lastAccepted, header });
    this.#cancelAll('the connection closed on a protocol error');
    this.#end();
  }

  /** Stops reading frames and ends our side; destroyed if the peer does not hang up. */
  #end(): void {
    this.#closed = true;
    clearTimeout(this.#frameTimer);
    clearTimeout(this.#authTimer);
    this.#clearQuotaPause();
    this.#socket.end();
    this.#socket.resume(); // keep reading (and dropping) so the peer's FIN is seen
    this.#lingerTimer ??= setTimeout(() => this.#socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  #clearQuotaPause(): void {
    clearTimeout(this.#quotaTimer);
    this.#quotaTimer = undefined;
  }

  #onEnd(): void {
    if (this.#decoder.pending > 0 && !this.#closed) {
      this.#log.info({ pendingBytes: this.#decoder.pending }, 'wire connection ended in the middle of a frame (truncated)');
    }
  }

  #onClose(): void {
    this.#closed = true;
    clearTimeout(this.#frameTimer);
    clearTimeout(this.#authTimer);
    clearTimeout(this.#lingerTimer);
    clearTimeout(this.#idleTimer);
    this.#clearQuotaPause();
    this.#cancelAll('the connection closed');
    this.#writable.clear();
  }

  #cancelAll(reason: string): void {
    for (const [id, s] of [...this.#streams]) {
      this.#streams.delete(id);
      s.handler.cancel();
      s.call.cancelled(reason);
    }
  }
}

/** What a unary call answers: the Response body and what its header adds. */
interface UnaryAnswer {
  readonly body: Buffer;
  /** Mesh/Invoke: the answer's content type and metadata. */
  readonly invocation?: WireInvocation;
  /** Another worker of this agent delivered the invocation (the hop hint). */
  readonly servedByWorker?: boolean;
}

/** The hop hint on a forwarded Invoke another worker delivered (see SERVED_BY_METADATA). */
const SERVED_BY_WORKER: Readonly<Record<string, string>> = Object.freeze({ [SERVED_BY_METADATA]: 'worker' });
/** Ignores everything: a unary call's frames after its Request, or a stream not yet started. */
const IDLE_HANDLER: WireStreamHandler = { message: () => undefined, end: () => undefined, cancel: () => undefined, drain: () => undefined };

function malformed(message: string): WireProtocolError {
  return new WireProtocolError('HEARTH_ERR_MALFORMED_FRAME', message);
}

function decodeRequest(codec: MethodCodec, body: Buffer): unknown {
  try {
    return codec.deserializeRequest(body);
  } catch (err) {
    throw new HearthError('HEARTH_ERR_MALFORMED_REQUEST', `the body is not a valid ${codec.path} request: ${(err as Error).message}`);
  }
}
