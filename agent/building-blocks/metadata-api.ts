// What this agent offers the calling app: only the components its ACL lets it use.
import { AppRegistry } from '../apps/app-registry.js';
import type { BuildingBlock } from '../config/config-schema.js';
import type { ApiDeps } from './app-scope.js';
import type { ComponentInfo, MetadataApi } from './runtime-api.js';

/** What the API layer guarantees per building block, whatever the implementation. */
const CAPABILITIES: Readonly<Record<BuildingBlock, readonly string[]>> = {
  state: ['ETAG', 'TTL', 'TRANSACTIONAL', 'BULK'],
  pubsub: ['AT_LEAST_ONCE', 'DEAD_LETTER', 'CLOUDEVENTS'],
  lock: ['LEASE'],
  sequencer: ['STRICTLY_INCREASING'],
  configuration: ['SUBSCRIBE'],
  registry: [],
};

/** Component contracts are versioned with the API, as Dapr reports `v1`. */
const COMPONENT_API_VERSION = 'v1';

export function createMetadataApi(deps: ApiDeps): MetadataApi {
  return {
    get(ctx) {
      const components: ComponentInfo[] = deps.components
        .list()
        // The registry is the agent's own (discovery for invoke), not an app-facing component.
        .filter((c) => c.block !== 'registry' && AppRegistry.canUseComponent(ctx.app, c.name))
        .map((c) => ({
          name: c.name,
          type: c.type,
          version: COMPONENT_API_VERSION,
          // SHARED tells the app its keys are visible to every app allowed on the component.
          capabilities: c.shared ? [...CAPABILITIES[c.block], 'SHARED'] : CAPABILITIES[c.block],
        }));
      return {
        appId: ctx.app.id,
        runtimeVersion: deps.version,
        generation: deps.generation,
        components,
        allowedTopics: [...ctx.app.allow.topics],
        allowedApps: [...ctx.app.allow.apps],
      };
    },
  };
}
