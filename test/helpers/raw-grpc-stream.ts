// PubSub.Subscribe over plain node:http2, for what grpc-js clients cannot do: stop reading
// HTTP/2 frames (grpc-js keeps reading and buffers even when the stream is paused).
import http2 from 'node:http2';
import net from 'node:net';
import { runtimeService } from '../../agent/transports/grpc/grpc-services.js';
import type { Msg, SubscribeResponse } from './grpc-client.js';

const method = runtimeService('PubSub').Subscribe!;

export class RawSubscribeStream {
  readonly #session: http2.ClientHttp2Session;
  readonly #stream: http2.ClientHttp2Stream;
  #buffer = Buffer.alloc(0);
  readonly #messages: SubscribeResponse[] = [];
  #waiter: (() => void) | undefined;
  #ended = false;

  private constructor(session: http2.ClientHttp2Session, stream: http2.ClientHttp2Stream) {
    this.#session = session;
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      // gRPC framing: 1 byte compressed flag, 4 bytes big-endian length, message.
      while (this.#buffer.length >= 5) {
        const length = this.#buffer.readUInt32BE(1);
        if (this.#buffer.length < 5 + length) break;
        this.#messages.push(method.responseDeserialize(this.#buffer.subarray(5, 5 + length)) as SubscribeResponse);
        this.#buffer = this.#buffer.subarray(5 + length);
      }
      this.#waiter?.();
    });
    const ended = (): void => {
      this.#ended = true;
      this.#waiter?.();
    };
    stream.on('close', ended);
    stream.on('error', ended);
  }

  static async open(socket: string, token: string, initial: Msg): Promise<RawSubscribeStream> {
    const session = http2.connect('http://hearth', { createConnection: () => net.connect(socket) });
    session.on('error', () => undefined); // surfaces as the stream closing
    const stream = session.request({
      ':method': 'POST',
      ':path': '/hearth.runtime.v1.PubSub/Subscribe',
      'content-type': 'application/grpc',
      te: 'trailers',
      authorization: `Bearer ${token}`,
    });
    const s = new RawSubscribeStream(session, stream);
    s.send({ initial });
    return s;
  }

  send(message: Msg): void {
    const body = method.requestSerialize(message);
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    this.#stream.write(frame);
  }

  /** Stops reading: HTTP/2 flow control then stops the server's writes. */
  pause(): void {
    this.#stream.pause();
  }

  resume(): void {
    this.#stream.resume();
  }

  async next(): Promise<SubscribeResponse> {
    for (;;) {
      const m = this.#messages.shift();
      if (m) return m;
      if (this.#ended) throw new Error('stream ended');
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  close(): void {
    this.#stream.close();
    this.#session.close();
  }
}
