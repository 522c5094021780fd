// The frame header (`hearth.wire.v1.Header` in proto/hearth/wire/v1/wire.proto), encoded with
// protobufjs from the .proto itself, so the spec and the code cannot disagree.
import path from 'node:path';
import protobuf from 'protobufjs';
import { findProtoRoot } from '../proto/proto-root.js';

export interface WireHeader {
  method?: string;
  /** Remaining budget in ms; 0 or absent = none. */
  deadlineMs?: number;
  traceparent?: string;
  caller?: string;
  token?: string;
  requestId?: string;
  errorCode?: string;
  errorMessage?: string;
  metadata?: Record<string, string>;
  idempotent?: boolean;
  attempt?: number;
}

let headerType: protobuf.Type | undefined;

function type(): protobuf.Type {
  if (headerType) return headerType;
  const root = new protobuf.Root();
  root.loadSync(path.join(findProtoRoot(), 'hearth', 'wire', 'v1', 'wire.proto'), { keepCase: false });
  headerType = root.lookupType('hearth.wire.v1.Header');
  return headerType;
}

const EMPTY = Buffer.alloc(0);

export function encodeHeader(header: WireHeader | undefined): Buffer {
  if (header === undefined) return EMPTY;
  const bytes = type().encode(header).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Throws on bytes that are not a Header message. Absent fields are left out. */
export function decodeHeader(bytes: Buffer): WireHeader {
  if (bytes.length === 0) return {};
  const t = type();
  return t.toObject(t.decode(bytes), { longs: Number, defaults: false });
}
