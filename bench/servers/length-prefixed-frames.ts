// The floor protocol: each frame is a 4-byte big-endian length and that many bytes. The echo
// server writes every frame back as it is; the client matches replies to requests in order.
import type net from 'node:net';

export const FRAME_HEADER_BYTES = 4;
/** Frames above this are a protocol error (the benchmark sends 1 KB). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

export function encodeFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** Splits a byte stream into whole frames (header included). */
export class FrameReader {
  #buffered: Buffer = Buffer.alloc(0);

  /** Calls `onFrame` for each complete frame; throws on an oversized length. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    let offset = 0;
    while (this.#buffered.length - offset >= FRAME_HEADER_BYTES) {
      const length = this.#buffered.readUInt32BE(offset);
      if (length > MAX_FRAME_BYTES) throw new Error(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`);
      const end = offset + FRAME_HEADER_BYTES + length;
      if (this.#buffered.length < end) break;
      onFrame(this.#buffered.subarray(offset, end));
      offset = end;
    }
    this.#buffered = offset === this.#buffered.length ? Buffer.alloc(0) : this.#buffered.subarray(offset);
  }
}

/**
 * Writes each whole frame read from `from` to `to` (the same socket: an echo); `from` closing
 * closes `to`, and a malformed frame closes `from`.
 */
export function forwardFrames(from: net.Socket, to: net.Socket): void {
  const reader = new FrameReader();
  from.on('data', (chunk: Buffer) => {
    try {
      reader.push(chunk, (frame) => to.write(frame));
    } catch {
      from.destroy();
    }
  });
  from.on('close', () => to.destroy());
  from.on('error', () => from.destroy());
}
