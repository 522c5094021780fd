// The wire protocol's frames (docs/wire-protocol.md): a 4-byte length, a fixed 12-byte prelude
// (version, type, flags, stream id, header length), a protobuf Header and a protobuf body. The
// decoder is incremental and bounded: it never buffers more than one frame, and anything it
// cannot parse is a WireProtocolError that closes only that connection.
import { decodeHeader, encodeHeader, type WireHeader } from './header.js';

export const WIRE_VERSION = 1;

export const FrameType = {
  /** client → server: opens stream `streamId` and carries its first message. */
  Request: 1,
  /** server → client: the final status (and, on success, the response) of a stream. */
  Response: 2,
  /** either way: one more message on an open streaming call. */
  Message: 3,
  /** client → server: the client abandons the stream; the server stops and answers nothing. */
  Cancel: 4,
  /** either way, stream 0: answered by a Pong with the same body. */
  Ping: 5,
  Pong: 6,
  /** server → client: no new requests on this connection; streams up to `streamId` complete. */
  Goaway: 7,
  /** client → server: the client sends no more messages on this stream (half-close). */
  End: 8,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Pong flag: the server is draining; finish what is open and reconnect (maybe elsewhere). */
export const PONG_DRAINING = 0x1;
/**
 * Pong flag: the server takes forwarded invocations with their routing in the header
 * (`hearth.wire.v1.Mesh/Invoke`). A server of an earlier build never sets it, so a forwarding agent
 * sends `Invoke/InvokeService` on that connection instead (docs/wire-protocol.md, "Forwarding").
 */
export const PONG_MESH_INVOKE = 0x2;

/** Bytes after the length field that every frame has: version, type, flags, stream id, header length. */
export const PRELUDE_BYTES = 12;
const LENGTH_BYTES = 4;
/** Room for the header on top of a body of limits.maxBodyBytes. */
export const HEADER_ALLOWANCE_BYTES = 64 * 1024;
export const MAX_STREAM_ID = 0xffff_ffff;

export interface Frame {
  readonly type: FrameType;
  readonly flags: number;
  readonly streamId: number;
  readonly header: WireHeader;
  readonly body: Buffer;
}

export interface FrameInput {
  readonly type: FrameType;
  readonly streamId: number;
  readonly flags?: number;
  readonly header?: WireHeader;
  readonly body?: Buffer;
}

export type WireProtocolErrorCode = 'HEARTH_ERR_MALFORMED_FRAME' | 'HEARTH_ERR_BODY_TOO_LARGE';

/** A connection-level protocol violation: answer with Goaway carrying `code`, then close. */
export class WireProtocolError extends Error {
  constructor(
    readonly code: WireProtocolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WireProtocolError';
  }
}

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

export function encodeFrame(frame: FrameInput): Buffer {
  const header = encodeHeader(frame.header);
  const body = frame.body ?? Buffer.alloc(0);
  const out = Buffer.allocUnsafe(LENGTH_BYTES + PRELUDE_BYTES + header.length + body.length);
  out.writeUInt32BE(PRELUDE_BYTES + header.length + body.length, 0);
  out.writeUInt8(WIRE_VERSION, 4);
  out.writeUInt8(frame.type, 5);
  out.writeUInt16BE(frame.flags ?? 0, 6);
  out.writeUInt32BE(frame.streamId, 8);
  out.writeUInt32BE(header.length, 12);
  header.copy(out, 16);
  body.copy(out, 16 + header.length);
  return out;
}

export interface FrameDecoderOptions {
  /** Largest accepted value of the length field. */
  readonly maxFrameBytes: number;
}

export class FrameDecoder {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(options: FrameDecoderOptions) {
    this.#max = options.maxFrameBytes;
  }

  /** Bytes of an incomplete frame held: non-zero at end of stream means a truncated frame. */
  get pending(): number {
    return this.#buffered;
  }

  /** Feeds bytes; returns every frame now complete. Throws WireProtocolError on a bad frame. */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.#buffered < LENGTH_BYTES) return frames;
      const length = this.#peekLength();
      if (length > this.#max) {
        throw new WireProtocolError('HEARTH_ERR_BODY_TOO_LARGE', `frame of ${length} bytes exceeds the limit of ${this.#max}`);
      }
      if (length < PRELUDE_BYTES) {
        throw new WireProtocolError('HEARTH_ERR_MALFORMED_FRAME', `frame length ${length} is below the ${PRELUDE_BYTES}-byte prelude`);
      }
      if (this.#buffered < LENGTH_BYTES + length) return frames;
      frames.push(parseFrame(this.#take(LENGTH_BYTES + length)));
    }
  }

  #peekLength(): number {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= LENGTH_BYTES) return first.readUInt32BE(0);
    return Buffer.concat(this.#chunks, LENGTH_BYTES).readUInt32BE(0);
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.#chunks, this.#buffered);
      out = all.subarray(0, n);
      this.#chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.#buffered -= n;
    return out;
  }
}

function parseFrame(bytes: Buffer): Frame {
  const version = bytes.readUInt8(4);
  if (version !== WIRE_VERSION) {
    throw new WireProtocolError('HEARTH_ERR_MALFORMED_FRAME', `unsupported wire protocol version ${version}; this side speaks ${WIRE_VERSION}`);
  }
  const type = bytes.readUInt8(5);
  if (!KNOWN_TYPES.has(type)) throw new WireProtocolError('HEARTH_ERR_MALFORMED_FRAME', `unknown frame type ${type}`);
  const flags = bytes.readUInt16BE(6);
  const streamId = bytes.readUInt32BE(8);
  const headerLength = bytes.readUInt32BE(12);
  if (headerLength > bytes.length - LENGTH_BYTES - PRELUDE_BYTES) {
    throw new WireProtocolError('HEARTH_ERR_MALFORMED_FRAME', `header length ${headerLength} runs past the end of the frame`);
  }
  const headerEnd = LENGTH_BYTES + PRELUDE_BYTES + headerLength;
  let header: WireHeader;
  try {
    header = decodeHeader(bytes.subarray(LENGTH_BYTES + PRELUDE_BYTES, headerEnd));
  } catch (err) {
    throw new WireProtocolError('HEARTH_ERR_MALFORMED_FRAME', `the frame header is not a valid protobuf Header: ${(err as Error).message}`);
  }
  return { type: type as FrameType, flags, streamId, header, body: bytes.subarray(headerEnd) };
}
