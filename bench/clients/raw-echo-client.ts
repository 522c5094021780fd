// Floor client: length-prefixed frames over plain Unix-socket connections, pipelined in order.
import net from 'node:net';
import { inBatches, type BenchClient, type Done } from './bench-client.js';
import { encodeFrame, FrameReader } from '../servers/length-prefixed-frames.js';

class FrameConnection {
  readonly #socket: net.Socket;
  readonly #reader = new FrameReader();
  #pending: Done[] = [];
  #failed: Error | null = null;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#reader.push(chunk, () => this.#pending.shift()?.(null));
      } catch (err) {
        this.#socket.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  send(frame: Buffer, done: Done): void {
    if (this.#failed !== null) {
      done(this.#failed);
      return;
    }
    this.#pending.push(done);
    this.#socket.write(frame);
  }

  close(): void {
    this.#socket.destroy();
  }

  #fail(error: Error): void {
    this.#failed ??= error;
    const pending = this.#pending;
    this.#pending = [];
    for (const done of pending) done(error);
  }
}

function connect(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export async function openRawEchoClient(socketPath: string, payloadBytes: number, connections: number): Promise<BenchClient> {
  const frame = encodeFrame(Buffer.alloc(payloadBytes, 0x61));
  const conns: FrameConnection[] = [];
  try {
    await inBatches(connections, 50, async (i) => {
      conns[i] = new FrameConnection(await connect(socketPath, 10_000));
    });
  } catch (err) {
    for (const conn of conns) conn?.close();
    throw err;
  }
  return {
    connections,
    send(connection, done) {
      const conn = conns[connection % connections];
      if (conn === undefined) done(new Error(`no connection ${connection}`));
      else conn.send(frame, done);
    },
    async close() {
      for (const conn of conns) conn.close();
    },
  };
}
