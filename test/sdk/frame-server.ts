// A scriptable wire-protocol peer for testing WireConnection on its own: a real net.Server (Unix
// socket) or tls.Server that decodes frames with the codec and lets each test answer them as it
// likes — out of order, with Goaway, with garbage, or not at all.
import net from 'node:net';
import tls from 'node:tls';
import { encodeFrame, type Frame, FrameDecoder, type FrameInput } from '@hearth/protocol';
import { waitFor } from '../support/wait.js';


export class PeerConnection {
  readonly frames: Frame[] = [];
  readonly socket: net.Socket;

  constructor(socket: net.Socket, onFrame: (frame: Frame, peer: PeerConnection) => void) {
    this.socket = socket;
    const decoder = new FrameDecoder({ maxFrameBytes: 16 * 1024 * 1024 });
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        this.frames.push(frame);
        onFrame(frame, this);
      }
    });
    socket.on('error', () => undefined);
  }

  send(frame: FrameInput): void {
    this.socket.write(encodeFrame(frame));
  }

  /** Waits until a received frame matches. */
  frame(what: string, match: (f: Frame) => boolean): Promise<Frame> {
    return waitFor(what, () => Promise.resolve(this.frames.find(match)), { timeoutMs: 10_000, everyMs: 10 });
  }
}

export type FrameHandler = (frame: Frame, peer: PeerConnection) => void;

export class FramePeerServer {
  readonly peers: PeerConnection[] = [];
  #handler: FrameHandler;

  private constructor(
    readonly server: net.Server,
    handler: FrameHandler,
  ) {
    this.#handler = handler;
  }

  /** Listens on a Unix socket path. */
  static async unix(path: string, handler: FrameHandler = () => undefined): Promise<FramePeerServer> {
    const server = net.createServer();
    const self = new FramePeerServer(server, handler);
    server.on('connection', (socket) => self.accept(socket));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return self;
  }

  /** Listens on 127.0.0.1 with TLS; returns the port via `port`. */
  static async tls(options: tls.TlsOptions, handler: FrameHandler = () => undefined): Promise<FramePeerServer> {
    const server = tls.createServer(options);
    const self = new FramePeerServer(server, handler);
    server.on('secureConnection', (socket) => self.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  set handler(handler: FrameHandler) {
    this.#handler = handler;
  }

  peer(index: number): Promise<PeerConnection> {
    return waitFor(`connection #${index}`, () => Promise.resolve(this.peers[index]), { timeoutMs: 10_000, everyMs: 10 });
  }

  async close(): Promise<void> {
    for (const p of this.peers) p.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** @internal */
  accept(socket: net.Socket): void {
    this.peers.push(new PeerConnection(socket, (f, p) => this.#handler(f, p)));
  }
}
