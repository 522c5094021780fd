// The one way frames are written to a socket, on both sides of a connection. Writes are
// coalesced: the first frame of an event-loop turn corks the socket and a setImmediate uncorks
// it, so the frames a busy side produces while one batch of I/O callbacks runs leave in one
// writev (one syscall, one TLS record) instead of one write each — per-frame writes were the
// largest single cost of a busy worker. Frames keep the order they were written in, and write()
// still reports the socket's high-water mark.
import type net from 'node:net';
import { encodeFrame, type FrameInput } from './frame.js';

export class FrameWriter {
  readonly #socket: net.Socket;
  #corked = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
  }

  /** Encodes and queues one frame; false when the socket is closed or over its high-water mark. */
  write(frame: FrameInput): boolean {
    return this.writeEncoded(encodeFrame(frame));
  }

  /** Queues an already encoded frame (see write()). */
  writeEncoded(bytes: Buffer): boolean {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return false;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      setImmediate(this.flush);
    }
    return socket.write(bytes);
  }

  /** Sends what was corked this turn now: before destroy(), which would drop it (end() flushes itself). */
  readonly flush = (): void => {
    if (!this.#corked) return;
    this.#corked = false;
    if (!this.#socket.destroyed) this.#socket.uncork();
  };
}
