// hearth.runtime.v1.Metadata: message mapping only.
import type { RuntimeApi } from '../../building-blocks/runtime-api.js';
import { method, type MethodTable } from './unary-method.js';

export function metadataMethods(api: RuntimeApi): MethodTable {
  return {
    'hearth.runtime.v1.Metadata/GetMetadata': method('metadata.get', (ctx) => {
      const m = api.metadata.get(ctx);
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
