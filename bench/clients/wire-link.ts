// One wire-protocol connection (docs/wire-protocol.md) built on the SDK's frame codec alone
// (sdk/wire/frame.ts), not on the SDK client: the wire rows measure the transport, so the bench
// pays for framing and protobuf and nothing else. Calls are multiplexed by stream id; a Response
// carrying `errorCode` fails its call with a WireCallError whose `code` is that HEARTH_ERR_* code
// (the load loops tally errors by code). A bidirectional stream (the callee's AppCallback) is
// opened with `openStream` and fed with `sendMessage`.
import net from 'node:net';
import { encodeFrame, type Frame, FrameDecoder, FrameType, HEADER_ALLOWANCE_BYTES, type WireHeader } from '@hearth/protocol';

/** Bodies up to 4 MiB (the agent's default limits.maxBodyBytes) plus the header allowance. */
const MAX_FRAME_BYTES = 4 * 1024 * 1024 + HEADER_ALLOWANCE_BYTES;

export class WireCallError extends Error {
  constructor(readonly code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = 'WireCallError';
  }
}

export type UnaryDone = (error: Error | null, body: Buffer | null) => void;

interface OpenStream {
  onMessage: (body: Buffer) => void;
  onEnd: (error: Error | null) => void;
}

export class WireLink {
  readonly #socket: net.Socket;
  readonly #decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES });
  readonly #unary = new Map<number, UnaryDone>();
  readonly #streams = new Map<number, OpenStream>();
  #nextStream = 1;
  #failed: Error | null = null;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of this.#decoder.push(chunk)) this.#onFrame(frame);
      } catch (err) {
        socket.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('wire connection closed')));
  }

  /** Connects to a Unix socket (wire.sock); rejects after `timeoutMs`. */
  static connect(socketPath: string, timeoutMs = 10_000): Promise<WireLink> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: socketPath });
      const timer = setTimeout(() => socket.destroy(new Error(`wire connect timeout after ${timeoutMs} ms`)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', reject);
        resolve(new WireLink(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** One unary call: Request out, Response in. `done` is called exactly once. */
  unary(header: WireHeader, body: Buffer, done: UnaryDone): void {
    if (this.#failed !== null) {
      done(this.#failed, null);
      return;
    }
    const streamId = this.#stream();
    this.#unary.set(streamId, done);
    this.#socket.write(encodeFrame({ type: FrameType.Request, streamId, header, body }));
  }

  /** Opens a streaming call; returns its stream id for sendMessage. */
  openStream(header: WireHeader, first: Buffer, stream: OpenStream): number {
    if (this.#failed !== null) throw this.#failed;
    const streamId = this.#stream();
    this.#streams.set(streamId, stream);
    this.#socket.write(encodeFrame({ type: FrameType.Request, streamId, header, body: first }));
    return streamId;
  }

  sendMessage(streamId: number, body: Buffer): void {
    if (this.#failed === null) this.#socket.write(encodeFrame({ type: FrameType.Message, streamId, body }));
  }

  close(): void {
    this.#socket.destroy();
  }

  #stream(): number {
    const id = this.#nextStream;
    this.#nextStream = id >= 0x7fff_ffff ? 1 : id + 1;
    return id;
  }

  #onFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Response: {
        const error = frame.header.errorCode ? new WireCallError(frame.header.errorCode, frame.header.errorMessage ?? '') : null;
        const unary = this.#unary.get(frame.streamId);
        if (unary !== undefined) {
          this.#unary.delete(frame.streamId);
          unary(error, error === null ? frame.body : null);
          return;
        }
        const stream = this.#streams.get(frame.streamId);
        this.#streams.delete(frame.streamId);
        stream?.onEnd(error);
        return;
      }
      case FrameType.Message:
        this.#streams.get(frame.streamId)?.onMessage(frame.body);
        return;
      case FrameType.Ping:
        this.#socket.write(encodeFrame({ type: FrameType.Pong, streamId: 0, body: frame.body }));
        return;
      case FrameType.Goaway: {
        // No new calls here; a draining server completes the open ones and closes by itself.
        const error = new WireCallError(frame.header.errorCode ?? 'GOAWAY', frame.header.errorMessage ?? 'goaway');
        this.#failed ??= error;
        if (frame.header.errorCode !== 'HEARTH_ERR_DRAINING') this.#socket.destroy(error);
        return;
      }
      default:
        return;
    }
  }

  #fail(error: Error): void {
    this.#failed ??= error;
    const unary = [...this.#unary.values()];
    const streams = [...this.#streams.values()];
    this.#unary.clear();
    this.#streams.clear();
    for (const done of unary) done(error, null);
    for (const stream of streams) stream.onEnd(error);
  }
}
