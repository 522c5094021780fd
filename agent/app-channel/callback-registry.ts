// The callback streams apps hold open on this worker, by app. Invoke picks among them; transports
// register and close them. Nothing here is shared between workers: another worker's streams are
// reached through the peer link (see peer-workers.ts). A draining instance stays listed (its
// pending results still arrive) but is never chosen, and an app whose instances all drain is
// no longer announced (apps()), so other workers stop forwarding to it.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CallbackOptions, CallbackRegistration, CallbackSink } from '../building-blocks/runtime-api.js';
import { CallbackInstance } from './callback-instance.js';

export class CallbackRegistry {
  readonly #byApp = new Map<string, CallbackInstance[]>();
  readonly #defaultConcurrency: number;
  readonly #log: Logger;
  readonly #listeners = new Set<(appId: string) => void>();
  readonly #admit: ((appId: string) => () => void) | undefined;

  /**
   * `admit`, when given, counts one invocation pushed to an app against its budget
   * (budgets.pendingCallbacks; throws a coded error over it) and returns its release.
   */
  constructor(defaultConcurrency: number, logger: Logger, admit?: (appId: string) => () => void) {
    this.#defaultConcurrency = defaultConcurrency;
    this.#log = logger;
    this.#admit = admit;
  }

  register(appId: string, sink: CallbackSink, options: CallbackOptions): CallbackRegistration {
    const capacity = options.maxConcurrency !== undefined && options.maxConcurrency > 0 ? options.maxConcurrency : this.#defaultConcurrency;
    const admit = this.#admit;
    const instance = new CallbackInstance(randomUUID(), appId, sink, capacity, options.methods ?? [], this.#log, admit === undefined ? undefined : () => admit(appId));
    const list = this.#byApp.get(appId) ?? [];
    list.push(instance);
    this.#byApp.set(appId, list);
    this.#log.info({ app: appId, instance: instance.id, capacity, instances: list.length }, 'callback stream registered');
    this.#changed(appId);
    const close = (): void => {
      if (instance.closed) return;
      instance.close();
      const left = (this.#byApp.get(appId) ?? []).filter((i) => i !== instance);
      if (left.length === 0) this.#byApp.delete(appId);
      else this.#byApp.set(appId, left);
      this.#log.info({ app: appId, instance: instance.id, instances: left.length }, 'callback stream closed');
      this.#changed(appId);
    };
    return {
      instanceId: instance.id,
      complete: (id, outcome) => instance.complete(id, outcome),
      close,
      drain: async (graceMs) => {
        if (instance.draining) return;
        instance.beginDrain();
        this.#log.info({ app: appId, instance: instance.id, pending: instance.inFlight, graceMs }, 'callback stream draining');
        this.#changed(appId);
        await instance.whenSettled(graceMs);
        close();
      },
    };
  }

  /** Open instances of `appId` on this worker. */
  instances(appId: string): readonly CallbackInstance[] {
    return this.#byApp.get(appId) ?? [];
  }

  /** Apps with at least one instance here that takes new invocations (not draining). */
  apps(): string[] {
    return [...this.#byApp].filter(([, list]) => list.some((i) => i.available)).map(([appId]) => appId);
  }

  /** Called with the app id whenever an app's instances change (registry announcements). */
  onChange(listener: (appId: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes every instance (their pending calls fail with HEARTH_ERR_APP_UNAVAILABLE). */
  closeAll(): void {
    for (const list of this.#byApp.values()) for (const i of list) i.close();
    const apps = [...this.#byApp.keys()];
    this.#byApp.clear();
    for (const appId of apps) this.#changed(appId);
  }

  #changed(appId: string): void {
    for (const l of this.#listeners) {
      try {
        l(appId);
      } catch (err) {
        this.#log.error({ err }, 'callback registry listener failed');
      }
    }
  }
}

/**
 * The part of a server's close grace that its callback streams may spend waiting for their
 * pending answers: the rest is for ending the streams and the connections within the same grace.
 */
export function callbackDrainGraceMs(closeGraceMs: number): number {
  return Math.max(0, Math.floor(closeGraceMs * 0.8));
}
