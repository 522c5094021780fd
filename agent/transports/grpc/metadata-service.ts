// hearth.runtime.v1.Metadata over gRPC.
import type * as grpc from '@grpc/grpc-js';
import type { TransportDeps } from '../transport-deps.js';
import { unary } from './grpc-call.js';

export function metadataService(deps: TransportDeps): grpc.UntypedServiceImplementation {
  return {
    GetMetadata: unary(deps, 'metadata.get', (ctx) => {
      const m = deps.api.metadata.get(ctx);
      return {
        appId: m.appId,
        runtimeVersion: m.runtimeVersion,
        components: m.components.map((c) => ({ name: c.name, type: c.type, version: c.version, capabilities: [...c.capabilities] })),
        allowedTopics: [...m.allowedTopics],
        allowedApps: [...m.allowedApps],
        generation: m.generation,
        extended: {},
      };
    }),
  };
}
