// @hearth/protocol: what Hearth's agent and its clients share — the wire protocol (frames, header,
// one client connection), the codecs and generated message types of proto/, the client error type
// and the rules for the fields every call carries. Both sides import it; it imports neither.
export { HearthClientError, isHearthClientError, agentUnavailable, AGENT_UNAVAILABLE, type HearthClientErrorOptions } from './errors.js';
export { silentLogger, type ProtocolLogger } from './logger.js';
export { AsyncQueue } from './async-queue.js';
export { APP_ID_PATTERN, APP_ID_SOURCE, MAX_TIMER_MS, SERVED_BY_METADATA, isAppId, timerMs, validRequestId, validTraceparent } from './call-fields.js';
export {
  LOADER_OPTIONS,
  METHODS,
  RUNTIME_PACKAGE,
  runtimeDescriptor,
  protocolRoot,
  runtimeMethods,
  type MethodCodec,
} from './codecs/runtime-methods.js';
export { codecFor, deserialize, serialize } from './codecs/method-codec.js';
export {
  encodeFrame,
  FrameDecoder,
  FrameType,
  HEADER_ALLOWANCE_BYTES,
  MAX_STREAM_ID,
  PONG_DRAINING,
  PONG_MESH_INVOKE,
  PRELUDE_BYTES,
  WIRE_VERSION,
  WireProtocolError,
  type Frame,
  type FrameDecoderOptions,
  type FrameInput,
  type WireProtocolErrorCode,
} from './wire/frame.js';
export { FrameWriter } from './wire/frame-writer.js';
export { decodeHeader, encodeHeader, type WireHeader, type WireInvocation } from './wire/header.js';
export {
  notAcceptedBeforeGoaway,
  WireConnection,
  type CallSink,
  type WireCallOptions,
  type WireConnectionEvents,
  type WireConnectOptions,
  type WireGoaway,
  type WireReply,
  type WireRequestHeader,
} from './wire/wire-connection.js';
export { WireStreamCall, type StreamFrameWriter } from './wire/wire-stream-call.js';
export { connectSocket, describeEndpoint, type WireEndpoint, type WireTlsOptions } from './wire/wire-endpoint.js';
export * from './gen/messages.js';
