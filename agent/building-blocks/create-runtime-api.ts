// Wires the building blocks into the one RuntimeApi every transport calls.
import type { AppBudgets } from '../apps/app-budgets.js';
import type { HearthConfig } from '../config/load-config.js';
import type { ApiDeps } from './app-scope.js';
import type { ComponentLookup } from './component-lookup.js';
import { createConfigurationApi } from './configuration-api.js';
import { createLockApi } from './lock-api.js';
import { createInvokeApi } from './invoke-api.js';
import { createMetadataApi } from './metadata-api.js';
import { createPubSubApi } from './pubsub-api.js';
import type { CallbackHost, InvokeRouter, RuntimeApi } from './runtime-api.js';
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
  /** This worker's callback streams (app-channel/callback-registry.ts). */
  readonly callbacks: CallbackHost;
  /** Delivery beyond the invoke API's checks: the mesh, or app-channel's LocalRouter. */
  readonly router: InvokeRouter;
  readonly budgets?: AppBudgets | undefined;
}

export function createRuntimeApi(deps: RuntimeApiDeps): RuntimeApi {
  const api: ApiDeps = deps;
  return Object.freeze({
    state: createStateApi(api),
    pubsub: createPubSubApi(api),
    configuration: createConfigurationApi(api),
    lock: createLockApi(api),
    sequencer: createSequencerApi(api),
    metadata: createMetadataApi(api),
    invoke: createInvokeApi({ ...api, callbacks: deps.callbacks, router: deps.router }),
  });
}
