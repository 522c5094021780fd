// Finds and loads the `.proto` contract shipped beside the code. Lives in the SDK because the SDK
// depends on proto/ alone; the agent loads its services through the same functions, so the two
// sides can never read different contracts.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

export const RUNTIME_PACKAGE = 'hearth.runtime.v1';
const RUNTIME_SUBDIR = path.join('hearth', 'runtime', 'v1');

/** camelCase fields, int64 as decimal strings, enums by name, defaults filled, oneof discriminators. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/**
 * The package root is the nearest directory with package.json that also holds proto/: this file
 * runs from dist/sdk/proto/ in a build and from a release artifact's tree alike.
 */
export function findProtoRoot(from: string = import.meta.url): string {
  let dir = path.dirname(fileURLToPath(from));
  for (;;) {
    const candidate = path.join(dir, 'proto');
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(candidate, RUNTIME_SUBDIR))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no proto/${RUNTIME_SUBDIR} found above ${fileURLToPath(from)}`);
    dir = up;
  }
}

let cached: protoLoader.PackageDefinition | undefined;

/** Every .proto of hearth.runtime.v1, loaded once per process. */
export function loadRuntimeProto(): protoLoader.PackageDefinition {
  if (cached) return cached;
  const root = findProtoRoot();
  const files = readdirSync(path.join(root, RUNTIME_SUBDIR))
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => path.join(RUNTIME_SUBDIR, f));
  cached = protoLoader.loadSync(files, { ...LOADER_OPTIONS, includeDirs: [root] });
  return cached;
}

/** One method's (de)serialisers, as both the wire protocol and gRPC use them. */
export interface MethodCodec {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  serializeRequest(value: unknown): Buffer;
  deserializeRequest(bytes: Buffer): unknown;
  serializeResponse(value: unknown): Buffer;
  deserializeResponse(bytes: Buffer): unknown;
}

let methods: ReadonlyMap<string, MethodCodec> | undefined;

/** Every method of hearth.runtime.v1 by its wire name, `hearth.runtime.v1.State/GetState`. */
export function runtimeMethods(): ReadonlyMap<string, MethodCodec> {
  if (methods) return methods;
  const out = new Map<string, MethodCodec>();
  for (const [name, def] of Object.entries(loadRuntimeProto())) {
    if (!name.startsWith(`${RUNTIME_PACKAGE}.`) || 'format' in def) continue;
    for (const m of Object.values(def)) {
      const path = m.path.slice(1); // grpc paths start with '/'
      out.set(path, {
        path,
        requestStream: m.requestStream,
        responseStream: m.responseStream,
        serializeRequest: m.requestSerialize,
        deserializeRequest: m.requestDeserialize,
        serializeResponse: m.responseSerialize,
        deserializeResponse: m.responseDeserialize,
      });
    }
  }
  methods = out;
  return out;
}
