// Where an invocation goes once the invoke API has checked it. The router owns delivery: this
// worker's callback streams, other workers of this agent, sibling agents, and the traffic
// governance between them (balancing, ejection, breakers, retries, hedging).
import type { Logger } from 'pino';
import type { InvokePolicy } from '../config/config-schema.js';
import type { InvokeResult } from '../building-blocks/runtime-api.js';
import { HearthError } from '../errors/hearth-error.js';
import type { InvocationInput } from './callback-instance.js';
import type { CallbackRegistry } from './callback-registry.js';

export interface RoutedCall {
  readonly target: string;
  readonly input: InvocationInput;
  /** May run more than once: retries, hedges and failover replays are allowed. */
  readonly idempotent: boolean;
  /** Absolute (Date.now() ms). */
  readonly deadline: number;
  readonly policy: Readonly<InvokePolicy>;
  /**
   * `any`: an app's own call — this worker, other workers, then siblings. `host`: forwarded by a
   * sibling agent — never to another agent. `worker`: forwarded by another worker — this worker only.
   */
  readonly scope: 'any' | 'host' | 'worker';
  readonly requestId: string;
  readonly logger: Logger;
  readonly signal?: AbortSignal | undefined;
}

export interface InvokeRouter {
  route(call: RoutedCall): Promise<InvokeResult>;
  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>;
}

/**
 * Delivers to this worker's instances only: the least loaded open one with room. What an agent
 * with one worker and no siblings needs, and the first tier of every other router.
 */
export class LocalRouter implements InvokeRouter {
  readonly #callbacks: CallbackRegistry;

  constructor(callbacks: CallbackRegistry) {
    this.#callbacks = callbacks;
  }

  route(call: RoutedCall): Promise<InvokeResult> {
    const instance = leastLoaded(this.#callbacks, call.target);
    return instance.invoke(call.input, call.deadline, call.signal);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The open, non-draining instance of `appId` with the fewest calls in flight; coded errors when
 * there is none. A draining instance only finishes what it already has.
 */
export function leastLoaded(callbacks: CallbackRegistry, appId: string): import('./callback-instance.js').CallbackInstance {
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
