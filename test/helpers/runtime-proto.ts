// hearth.runtime.v1 as a test client sees it: loaded from the .proto files in proto/ (the
// published contract), not from the agent's generated descriptor, so a test stub and the agent
// meet only on the wire.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS } from '@hearth/protocol';
import { repoRoot } from '../support/repo-root.js';

export { LOADER_OPTIONS };

const RUNTIME_DIR = path.join('hearth', 'runtime', 'v1');
let cached: protoLoader.PackageDefinition | undefined;

export function loadRuntimeProto(): protoLoader.PackageDefinition {
  if (cached) return cached;
  const root = path.join(repoRoot, 'proto');
  const files = readdirSync(path.join(root, RUNTIME_DIR))
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => path.join(RUNTIME_DIR, f));
  cached = protoLoader.loadSync(files, { ...LOADER_OPTIONS, includeDirs: [root] });
  return cached;
}
