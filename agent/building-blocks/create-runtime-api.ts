// Wires the building blocks into the one RuntimeApi every transport calls.
import type { HearthConfig } from '../config/load-config.js';
import { CallbackRegistry } from '../invoke/callback-registry.js';
import { createInvokeApi } from '../invoke/invoke-api.js';
import { LocalRouter, type InvokeRouter } from '../invoke/invoke-router.js';
import { pino, type Logger } from 'pino';
import type { ApiDeps } from './app-scope.js';
import type { ComponentLookup } from './component-lookup.js';
import { createConfigurationApi } from './configuration-api.js';
import { createLockApi } from './lock-api.js';
import { createMetadataApi } from './metadata-api.js';
import { createPubSubApi } from './pubsub-api.js';
import type { RuntimeApi } from './runtime-api.js';
import { createSequencerApi } from './sequencer-api.js';
import { createStateApi } from './state-api.js';

export type { ComponentLookup } from './component-lookup.js';

export interface RuntimeApiDeps {
  /** A `ComponentSet`; any object with its lookup methods. */
  readonly components: ComponentLookup;
  readonly config: HearthConfig;
  /** This build's version, reported by the metadata API. */
  readonly version: string;
  /** This worker's generation, reported by the metadata API. */
  readonly generation: number;
  /** This worker's callback streams; a fresh registry when absent. */
  readonly callbacks?: CallbackRegistry | undefined;
  /** Delivery beyond the invoke API's checks; this worker's instances only when absent. */
  readonly router?: InvokeRouter | undefined;
  /** For the callback registry's lines; required only when `callbacks` is absent. */
  readonly logger?: Logger | undefined;
}

export function createRuntimeApi(deps: RuntimeApiDeps): RuntimeApi {
  const api: ApiDeps = deps;
  const callbacks = deps.callbacks ?? new CallbackRegistry(deps.config.invoke.callbackConcurrency, deps.logger ?? pino({ level: 'silent' }));
  return Object.freeze({
    state: createStateApi(api),
    pubsub: createPubSubApi(api),
    configuration: createConfigurationApi(api),
    lock: createLockApi(api),
    sequencer: createSequencerApi(api),
    metadata: createMetadataApi(api),
    invoke: createInvokeApi({ ...api, callbacks, router: deps.router ?? new LocalRouter(callbacks) }),
  });
}
