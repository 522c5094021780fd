// A raw wire-protocol client for the server tests, on the protocol's codec (@hearth/protocol) and
// nothing else: it writes exactly the frames (or bytes) a test asks for and records every frame
// the server sends, so tests can check the server's answers frame by frame, bad input included.
import net from 'node:net';
import tls from 'node:tls';
import { encodeFrame, type Frame, FrameDecoder, type FrameInput, FrameType, type MethodCodec, runtimeMethods, type WireHeader } from '@hearth/protocol';

export type Msg = Record<string, unknown>;

export interface TlsTarget {
  readonly host: string;
  readonly port: number;
  readonly ca: Buffer;
  /** A client certificate (mutual TLS). */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** The source address to connect from (another loopback address, e.g. 127.0.0.2). */
  readonly localAddress?: string;
}

/** A Response decoded: the error fields, or the method's response message. */
export interface WireAnswer<T = Msg> {
  readonly header: WireHeader;
  readonly code: string | undefined;
  readonly message: T;
}

export class WireTestClient {
  readonly #socket: net.Socket;
  readonly #decoder = new FrameDecoder({ maxFrameBytes: 512 * 1024 * 1024 });
  readonly #frames: Frame[] = [];
  #waiters: (() => void)[] = [];
  #nextStream = 1;
  #closed = false;
  /** Resolves when the server closed the connection (or it failed). */
  readonly closed: Promise<void>;
  /** Set when bytes arrived that the client's decoder could not parse. */
  decodeError: Error | undefined;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined); // the close event is what tests look at
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#frames.push(...this.#decoder.push(chunk));
      } catch (err) {
        this.decodeError = err as Error;
      }
      this.#wake();
    });
  }

  static unix(path: string): Promise<WireTestClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ path }, () => {
        socket.off('error', reject);
        resolve(new WireTestClient(socket));
      });
      socket.once('error', reject);
    });
  }

  static tls(target: TlsTarget): Promise<WireTestClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect(
        {
          host: target.host,
          port: target.port,
          ca: target.ca,
          cert: target.cert,
          key: target.key,
          servername: 'localhost',
          // tls.connect has no localAddress: connect the TCP socket from it ourselves.
          ...(target.localAddress === undefined ? {} : { socket: net.connect({ host: target.host, port: target.port, localAddress: target.localAddress }) }),
        },
        () => {
          socket.off('error', reject);
          resolve(new WireTestClient(socket));
        },
      );
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** A fresh stream id (1, 2, 3, ...). */
  streamId(): number {
    return this.#nextStream++;
  }

  send(frame: FrameInput): void {
    this.#socket.write(encodeFrame(frame));
  }

  sendRaw(bytes: Buffer): void {
    this.#socket.write(bytes);
  }

  /** Half-closes our side (EOF). */
  endInput(): void {
    this.#socket.end();
  }

  close(): void {
    this.#socket.destroy();
  }

  /** The next received frame matching `match` (taken out of the queue); rejects on close or timeout. */
  async next(match: (f: Frame) => boolean = () => true, timeoutMs = 15_000): Promise<Frame> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const i = this.#frames.findIndex(match);
      if (i >= 0) return this.#frames.splice(i, 1)[0] as Frame;
      if (this.#closed) throw new Error('the connection closed before the expected frame');
      const left = until - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The next frame of `type` on `streamId`. */
  nextOn(streamId: number, type: FrameType, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.streamId === streamId && f.type === type, timeoutMs);
  }

  /** The Goaway the server sent before closing. */
  goaway(timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.type === FrameType.Goaway, timeoutMs);
  }

  /** Opens a stream with a Request; returns its id. */
  open(method: string, request: Msg, header: WireHeader = {}, streamId = this.streamId()): number {
    this.send({ type: FrameType.Request, streamId, header: { method, ...header }, body: codec(method).serializeRequest(request) });
    return streamId;
  }

  /** One more client message on a stream. */
  message(streamId: number, method: string, request: Msg): void {
    this.send({ type: FrameType.Message, streamId, body: codec(method).serializeRequest(request) });
  }

  /** The Response of stream `streamId`, decoded as `method`'s response. */
  async answer<T = Msg>(streamId: number, method: string, timeoutMs?: number): Promise<WireAnswer<T>> {
    return decodeAnswer<T>(await this.nextOn(streamId, FrameType.Response, timeoutMs), method);
  }

  /** The next Message of stream `streamId`, decoded as `method`'s response type. */
  async streamMessage<T = Msg>(streamId: number, method: string, timeoutMs?: number): Promise<T> {
    return codec(method).deserializeResponse((await this.nextOn(streamId, FrameType.Message, timeoutMs)).body) as T;
  }

  /** Request → Response on a fresh stream. */
  async call<T = Msg>(method: string, request: Msg, header: WireHeader = {}): Promise<WireAnswer<T>> {
    return this.answer<T>(this.open(method, request, header), method);
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

export function codec(method: string): MethodCodec {
  const c = runtimeMethods().get(method);
  if (c === undefined) throw new Error(`no method ${method} in proto/`);
  return c;
}

export function decodeAnswer<T = Msg>(frame: Frame, method: string): WireAnswer<T> {
  const code = frame.header.errorCode;
  const message = (code === undefined || code === '' ? codec(method).deserializeResponse(frame.body) : {}) as T;
  return { header: frame.header, code: code === '' ? undefined : code, message };
}
