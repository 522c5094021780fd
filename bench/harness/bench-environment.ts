// The servers a run shares between scenarios, started on first use and stopped at the end: the
// three baselines and one long-lived Hearth for the load rows. Scenarios that need a fresh agent
// (idle memory) start their own with startHearth().
import type { BaselineKind } from '../servers/baseline-server.js';
import { startBaseline, type BaselineProcess } from './baseline-process.js';
import type { CleanupStack } from './cleanup-stack.js';
import { startHearth, type HearthInstance } from './hearth-instance.js';

export class BenchEnvironment {
  readonly #cleanup: CleanupStack;
  readonly #baselines = new Map<BaselineKind, Promise<BaselineProcess>>();
  #hearth: Promise<HearthInstance> | null = null;

  constructor(cleanup: CleanupStack) {
    this.#cleanup = cleanup;
  }

  baseline(kind: BaselineKind): Promise<BaselineProcess> {
    let started = this.#baselines.get(kind);
    if (started === undefined) {
      started = startBaseline(kind, this.#cleanup);
      this.#baselines.set(kind, started);
    }
    return started;
  }

  /** The shared Hearth; a failed start is remembered (every Hearth row reports the same error). */
  hearth(): Promise<HearthInstance> {
    this.#hearth ??= startHearth(this.#cleanup);
    return this.#hearth;
  }

  async stopAll(): Promise<void> {
    const all: Promise<{ stop(): Promise<void> }>[] = [...this.#baselines.values()];
    if (this.#hearth !== null) all.push(this.#hearth);
    this.#baselines.clear();
    this.#hearth = null;
    for (const started of all.reverse()) {
      const server = await started.catch(() => null);
      await server?.stop();
    }
  }
}
