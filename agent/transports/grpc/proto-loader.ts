// Loads the app-facing contract from proto/ at run time (no generated code to keep in sync).
// The same loader options serve the server and the test clients, so both see the same shapes.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import type * as grpc from '@grpc/grpc-js';

export const RUNTIME_PACKAGE = 'hearth.runtime.v1';
export const SERVICE_NAMES = ['State', 'PubSub', 'Configuration', 'Lock', 'Sequencer', 'Metadata'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const PROTO_SUBDIR = path.join('hearth', 'runtime', 'v1');

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
 * runs from dist/agent/transports/grpc/ in a build and from a release artifact's tree alike.
 */
export function findProtoRoot(from: string = import.meta.url): string {
  let dir = path.dirname(fileURLToPath(from));
  for (;;) {
    const candidate = path.join(dir, 'proto');
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(candidate, PROTO_SUBDIR))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no proto/${PROTO_SUBDIR} found above ${fileURLToPath(from)}`);
    dir = up;
  }
}

let cached: protoLoader.PackageDefinition | undefined;

/** Every .proto of hearth.runtime.v1, loaded once per process. */
export function loadRuntimeProto(): protoLoader.PackageDefinition {
  if (cached) return cached;
  const root = findProtoRoot();
  const files = readdirSync(path.join(root, PROTO_SUBDIR))
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => path.join(PROTO_SUBDIR, f));
  cached = protoLoader.loadSync(files, { ...LOADER_OPTIONS, includeDirs: [root] });
  return cached;
}

/** The grpc-js service definition of one hearth.runtime.v1 service. */
export function runtimeService(name: ServiceName, pkg = loadRuntimeProto()): grpc.ServiceDefinition {
  const def = pkg[`${RUNTIME_PACKAGE}.${name}`];
  if (def === undefined || 'format' in def) throw new Error(`${RUNTIME_PACKAGE}.${name} is not a service in proto/`);
  return def;
}
