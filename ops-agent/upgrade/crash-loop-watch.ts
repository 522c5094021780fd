// After an upgrade the new generation is on probation for crashLoopWindowMs: if its workers crash
// crashLoopRestarts times in that window, the build it replaced takes over again (issue #3: "a
// new version that crash-loops within its first minutes is rolled back automatically").
import type { Supervisor } from '../supervisor.js';
import type { BuildRef } from './upgrade-state.js';
import type { WorkerGeneration } from './worker-generation.js';

interface Probation {
  readonly gen: WorkerGeneration;
  readonly since: number;
  /** The build to hand back to. */
  readonly from: BuildRef;
}

export interface CrashLoopLimits {
  readonly crashLoopRestarts: number;
  readonly crashLoopWindowMs: number;
}

/** `rollback` returns false when it cannot run now (another hand-off); the watch asks again later. */
export type RollbackTrigger = (from: BuildRef, reason: string) => boolean;

export class CrashLoopWatch {
  readonly #supervisor: Supervisor;
  readonly #limits: () => CrashLoopLimits;
  readonly #rollback: RollbackTrigger;
  readonly #unsubscribe: () => void;
  #probation: Probation | undefined;

  constructor(supervisor: Supervisor, limits: () => CrashLoopLimits, rollback: RollbackTrigger) {
    this.#supervisor = supervisor;
    this.#limits = limits;
    this.#rollback = rollback;
    this.#unsubscribe = supervisor.onCrash(() => this.check());
  }

  /** Puts a freshly switched-to generation on probation (counting from now). */
  watch(gen: WorkerGeneration, from: BuildRef): void {
    this.#probation = { gen, since: Date.now(), from };
  }

  check(): void {
    const p = this.#probation;
    if (!p) return;
    const { crashLoopRestarts, crashLoopWindowMs } = this.#limits();
    // Only crashes inside the window count; a generation no longer serving is not ours to judge.
    const windowEnd = p.since + crashLoopWindowMs;
    if (this.#supervisor.active !== p.gen) {
      this.#probation = undefined;
      return;
    }
    const crashes = p.gen.crashes.filter((t) => t <= windowEnd && t >= p.since).length;
    if (crashes < crashLoopRestarts) {
      if (Date.now() > windowEnd) this.#probation = undefined;
      return;
    }
    const reason =
      `crash loop: ${crashes} worker crash(es) of ${p.gen.version} (generation ${p.gen.number}) within ${crashLoopWindowMs} ms of the switch ` +
      `(limit ${crashLoopRestarts}); handing back to ${p.from.version}`;
    if (this.#rollback(p.from, reason)) this.#probation = undefined;
  }

  stop(): void {
    this.#probation = undefined;
    this.#unsubscribe();
  }
}
