// The Node relay's frames (servers/node-relay.ts): Hearth's wire framing (protocol/wire/frame.ts)
// without its protobuf header — the 4-byte length of length-prefixed-frames.ts, then the same
// 12-byte prelude (version, type, flags, stream id, header length: always 0 here) and the body. So
// the relay row pays for framing and stream matching as Hearth does, and for nothing else.
import { FRAME_HEADER_BYTES } from './length-prefixed-frames.js';

export const PRELUDE_BYTES = 12;
const VERSION = 1;

export const RelayFrameType = { Request: 1, Response: 2 } as const;
export type RelayFrameType = (typeof RelayFrameType)[keyof typeof RelayFrameType];

export interface RelayFrame {
  type: number;
  streamId: number;
  body: Buffer;
}

export function encodeRelayFrame(type: RelayFrameType, streamId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + PRELUDE_BYTES + body.length);
  out.writeUInt32BE(PRELUDE_BYTES + body.length, 0);
  out.writeUInt8(VERSION, 4);
  out.writeUInt8(type, 5);
  out.writeUInt16BE(0, 6);
  out.writeUInt32BE(streamId, 8);
  out.writeUInt32BE(0, 12);
  body.copy(out, FRAME_HEADER_BYTES + PRELUDE_BYTES);
  return out;
}

/** Reads a whole frame as FrameReader hands it over (length included); throws on a malformed one. */
export function decodeRelayFrame(frame: Buffer): RelayFrame {
  if (frame.length < FRAME_HEADER_BYTES + PRELUDE_BYTES || frame.readUInt8(4) !== VERSION) throw new Error('malformed relay frame');
  const headerBytes = frame.readUInt32BE(12);
  const bodyAt = FRAME_HEADER_BYTES + PRELUDE_BYTES + headerBytes;
  if (bodyAt > frame.length) throw new Error('relay frame header overruns the frame');
  return { type: frame.readUInt8(5), streamId: frame.readUInt32BE(8), body: frame.subarray(bodyAt) };
}
