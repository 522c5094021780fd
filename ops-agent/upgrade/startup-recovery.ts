// What a start makes of the state a previous run left, however it ended — `kill -9` at any phase
// must leave a state the next start recovers from (docs/upgrade.md): a hand-off still marked in progress was cut short by a `kill -9` and is recorded
// as interrupted; half-installed versions are cleaned up by the store; the build to run is the
// active one — the last hand-off that completed — or this ops-agent's own build when none was
// ever installed or its directory is gone.
import { access } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { BuildRef, UpgradeStateFile } from './upgrade-state.js';
import type { VersionStore } from './version-store.js';

export interface StartBuild {
  readonly build: BuildRef;
  readonly generation: number;
  /** Why the recorded active build was not used, if it was not. */
  readonly fallback?: string;
}

export async function recoverAtStart(state: UpgradeStateFile, store: VersionStore | undefined, ownBuild: BuildRef, logger: Logger): Promise<StartBuild> {
  const log = logger.child({ component: 'upgrade-recovery' });
  const s = await state.load();
  if (s.inProgress) {
    const p = s.inProgress;
    log.warn({ inProgress: p }, 'a hand-off was in progress when the ops-agent stopped; recording it as interrupted');
    const now = new Date().toISOString();
    await state.record({
      kind: p.kind,
      from: s.active?.version ?? ownBuild.version,
      to: p.toVersion,
      result: 'failed',
      code: 'HEARTH_ERR_UPGRADE_INTERRUPTED',
      reason: `interrupted by ops-agent restart (during ${p.phase})`,
      phases: {},
      startedAt: p.startedAt,
      finishedAt: now,
    });
  }
  if (store) {
    try {
      await store.recover();
    } catch (err) {
      log.error({ err }, 'artifact store recovery failed');
    }
  }

  const generation = (s.active?.generation ?? 0) + 1;
  const active = s.active;
  if (!active) return { build: ownBuild, generation };
  // No dir: it was an ops-agent's own build — this one's is what runs now.
  if (active.dir === undefined) return { build: ownBuild, generation };
  try {
    await access(active.exec);
    return { build: { version: active.version, exec: active.exec, ...(active.dir !== undefined ? { dir: active.dir } : {}) }, generation };
  } catch {
    const fallback = `the active version ${active.version} is not runnable (${active.exec} is missing); starting this ops-agent's own build ${ownBuild.version}`;
    log.error({ active }, fallback);
    return { build: ownBuild, generation, fallback };
  }
}
