// The servers a run shares between scenarios, started on first use and stopped at the end: the
// three baselines and one long-lived Hearth for the load rows. Scenarios that need a fresh agent
// (idle memory) start their own with startHearth(). With a profile directory, the shared Hearth
// runs under `node --cpu-prof` (the cluster passes execArgv on to its workers).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { summarizeCpuProfile, type ProfileSummary, type TimeWindow } from '../report/cpu-profile-summary.js';
import type { BaselineKind } from '../servers/baseline-server.js';
import { startBaseline, type BaselineProcess } from './baseline-process.js';
import type { CleanupStack } from './cleanup-stack.js';
import { startHearth, type HearthInstance } from './hearth-instance.js';
import { repoRoot } from './repo-root.js';

export class BenchEnvironment {
  readonly #cleanup: CleanupStack;
  readonly #profileDir: string | null;
  readonly #baselines = new Map<BaselineKind, Promise<BaselineProcess>>();
  #hearth: Promise<HearthInstance> | null = null;
  #hearthPid: number | null = null;

  constructor(cleanup: CleanupStack, profileDir: string | null = null) {
    this.#cleanup = cleanup;
    this.#profileDir = profileDir;
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
    if (this.#hearth === null) {
      const dir = this.#profileDir;
      this.#hearth = startHearth(this.#cleanup, { execArgv: dir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
      this.#hearth.then((h) => {
        this.#hearthPid = h.rootPid;
      }, () => undefined);
    }
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

  /**
   * After stopAll(): the CPU profiles the shared Hearth's processes wrote as they exited, counting
   * only samples inside `windows` (the measured windows of its rows).
   */
  profiles(windows: readonly TimeWindow[]): ProfileSummary[] {
    const dir = this.#profileDir;
    if (dir === null) return [];
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    return files.map((file) => {
      // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
      const pid = Number(file.split('.')[3]);
      const role = pid === this.#hearthPid ? 'ops-agent' : 'agent worker';
      const json: unknown = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
      return summarizeCpuProfile(json, path.relative(repoRoot, path.join(dir, file)), pid, role, repoRoot, windows);
    }).sort((a, b) => b.busyMs - a.busyMs);
  }
}
