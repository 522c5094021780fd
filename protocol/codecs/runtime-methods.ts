// The contract of proto/ as codecs: every method of hearth.runtime.v1 with its (de)serialisers,
// and the wire header's message type. Built from the descriptor generated at build time, so the
// agent (wire and gRPC alike) and every client read one contract and need no .proto file.
//
// The (de)serialisers are @grpc/proto-loader's, to the letter (`fromObject` → `encode`;
// `decode` → `toObject(LOADER_OPTIONS)`), so a message has the same shape whichever transport
// carried it and the generated types in gen/messages.ts describe it.
import protobuf from 'protobufjs';
import { DESCRIPTOR_JSON } from '../gen/descriptor.js';

export const RUNTIME_PACKAGE = 'hearth.runtime.v1';
export const WIRE_HEADER_TYPE = 'hearth.wire.v1.Header';

/** camelCase fields, int64 as decimal strings, enums by name, defaults filled, oneof discriminators. */
export const LOADER_OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

/** Wire names of the methods the agent itself routes on (the rest are looked up by name). */
export const METHODS = {
  invoke: 'hearth.runtime.v1.Invoke/InvokeService',
  callbackConnect: 'hearth.runtime.v1.AppCallback/Connect',
  subscribe: 'hearth.runtime.v1.PubSub/Subscribe',
  subscribeConfiguration: 'hearth.runtime.v1.Configuration/SubscribeConfiguration',
  /**
   * Agent to agent only, and only on a connection whose server advertised PONG_MESH_INVOKE: an
   * invocation whose routing is in the header (`invocation`) and whose data is the body as is. Not
   * a gRPC method: no codec.
   */
  meshInvoke: 'hearth.wire.v1.Mesh/Invoke',
} as const;

/** One method's (de)serialisers, as both the wire protocol and gRPC use them. */
export interface MethodCodec {
  /** `hearth.runtime.v1.State/GetState` (a gRPC path without its leading '/'). */
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  serializeRequest(value: unknown): Buffer;
  deserializeRequest(bytes: Buffer): unknown;
  serializeResponse(value: unknown): Buffer;
  deserializeResponse(bytes: Buffer): unknown;
}

let root: protobuf.Root | undefined;

/** The parsed contract (every package of proto/ the protocol speaks), once per process. */
export function protocolRoot(): protobuf.Root {
  if (root) return root;
  const parsed = protobuf.Root.fromJSON(JSON.parse(DESCRIPTOR_JSON) as protobuf.INamespace);
  parsed.resolveAll();
  root = parsed;
  return parsed;
}

/**
 * The descriptor of hearth.runtime.v1 alone as protobufjs JSON (the wire header's package left
 * out: it is no gRPC API): what @grpc/proto-loader's `fromJSON` takes to build gRPC services.
 */
export function runtimeDescriptor(): protobuf.INamespace {
  const json = JSON.parse(DESCRIPTOR_JSON) as { nested?: { hearth?: { nested?: Record<string, unknown> } } };
  delete json.nested?.hearth?.nested?.wire;
  return json as protobuf.INamespace;
}

function serializer(type: protobuf.Type): (value: unknown) => Buffer {
  return (value) => {
    if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    // Under Node protobufjs writes into a Buffer and finish() returns it; should an app have
    // reconfigured the shared protobufjs, wrap what it returns instead.
    const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => unknown {
  return (bytes) => type.toObject(type.decode(bytes), LOADER_OPTIONS);
}

let methods: ReadonlyMap<string, MethodCodec> | undefined;

/** Every method of hearth.runtime.v1 by its wire name, `hearth.runtime.v1.State/GetState`. */
export function runtimeMethods(): ReadonlyMap<string, MethodCodec> {
  if (methods) return methods;
  const out = new Map<string, MethodCodec>();
  const ns = protocolRoot().lookup(RUNTIME_PACKAGE);
  if (!(ns instanceof protobuf.Namespace)) throw new Error(`${RUNTIME_PACKAGE} is missing from the generated descriptor`);
  for (const service of ns.nestedArray) {
    if (!(service instanceof protobuf.Service)) continue;
    for (const m of service.methodsArray) {
      const req = m.resolvedRequestType as protobuf.Type;
      const res = m.resolvedResponseType as protobuf.Type;
      const path = `${RUNTIME_PACKAGE}.${service.name}/${m.name}`;
      out.set(path, {
        path,
        requestStream: m.requestStream === true,
        responseStream: m.responseStream === true,
        serializeRequest: serializer(req),
        deserializeRequest: deserializer(req),
        serializeResponse: serializer(res),
        deserializeResponse: deserializer(res),
      });
    }
  }
  methods = out;
  return out;
}
