// The app-facing contract as grpc-js services. Loading and locating proto/ is the SDK's
// (sdk/proto/proto-root.ts), so agent and SDK read one contract the same way.
import type * as grpc from '@grpc/grpc-js';
import { loadRuntimeProto, RUNTIME_PACKAGE } from '../../../sdk/proto/proto-root.js';

export { findProtoRoot, LOADER_OPTIONS, loadRuntimeProto, RUNTIME_PACKAGE } from '../../../sdk/proto/proto-root.js';

export const SERVICE_NAMES = ['State', 'PubSub', 'Configuration', 'Lock', 'Sequencer', 'Metadata', 'Invoke', 'AppCallback'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** The grpc-js service definition of one hearth.runtime.v1 service. */
export function runtimeService(name: ServiceName, pkg = loadRuntimeProto()): grpc.ServiceDefinition {
  const def = pkg[`${RUNTIME_PACKAGE}.${name}`];
  if (def === undefined || 'format' in def) throw new Error(`${RUNTIME_PACKAGE}.${name} is not a service in proto/`);
  return def;
}
