// The frame header (`hearth.wire.v1.Header` in proto/hearth/wire/v1/wire.proto), encoded with
// protobufjs from the descriptor generated from that .proto, so the spec and the code cannot disagree.
import type protobuf from 'protobufjs';
import { protocolRoot, WIRE_HEADER_TYPE } from '../codecs/runtime-methods.js';

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
  /** Forwarded invocations (`hearth.wire.v1.Mesh/Invoke`): the invocation's fields besides its data (the body). */
  invocation?: WireInvocation;
}

/** `hearth.wire.v1.Invocation`. */
export interface WireInvocation {
  appId?: string;
  method?: string;
  httpVerb?: string;
  contentType?: string;
  metadata?: Record<string, string>;
}

let headerType: protobuf.Type | undefined;

function type(): protobuf.Type {
  headerType ??= protocolRoot().lookupType(WIRE_HEADER_TYPE);
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
