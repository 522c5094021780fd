// Delivery to this worker's own instances only: what an agent worker needs when nothing is
// configured beyond it (and in-process tests), and the rule the mesh's first tier uses too.
import type { Logger } from 'pino';
import type { ForwardedCall, InvokeResult, InvokeRouter } from '../building-blocks/runtime-api.js';
import { HearthError } from '../errors/hearth-error.js';
import type { CallbackInstance } from './callback-instance.js';
import { CallbackRegistry } from './callback-registry.js';

/**
 * Delivers to this worker's instances only: the least loaded open one with room. What an agent
 * with one worker and no siblings needs, and the first tier of every other router.
 */
export class LocalRouter implements InvokeRouter {
  readonly #callbacks: CallbackRegistry;

  constructor(callbacks: CallbackRegistry) {
    this.#callbacks = callbacks;
  }

  route(call: ForwardedCall): Promise<InvokeResult> {
    return leastLoaded(this.#callbacks, call.target).invoke(call, call.origin.signal);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The open, non-draining instance of `appId` with the fewest calls in flight; coded errors when
 * there is none. A draining instance only finishes what it already has.
 */
export function leastLoaded(callbacks: CallbackRegistry, appId: string): CallbackInstance {
  const open = callbacks.instances(appId).filter((i) => i.available);
  if (open.length === 0) {
    throw new HearthError('HEARTH_ERR_APP_UNAVAILABLE', `no instance of app "${appId}" is connected to this agent`);
  }
  let best: (typeof open)[number] | undefined;
  for (const i of open) if (!i.full && (best === undefined || i.inFlight < best.inFlight)) best = i;
  if (best === undefined) {
    throw new HearthError('HEARTH_ERR_RESOURCE_EXHAUSTED', `all ${open.length} instances of app "${appId}" are at their concurrency limit`);
  }
  return best;
}

/** This worker's callback streams and a router over them alone: an agent worker with no mesh, and in-process tests. */
export function localDelivery(callbackConcurrency: number, logger: Logger): { callbacks: CallbackRegistry; router: LocalRouter } {
  const callbacks = new CallbackRegistry(callbackConcurrency, logger);
  return { callbacks, router: new LocalRouter(callbacks) };
}
