// One hand-off from the serving generation to a new one, whatever asked for it (upgrade,
// rollback, reload): preflight → start (fork the new build) → ready (every new worker proves it
// is up) → switch → drain (the old generation exits within its deadline or is killed). Until the
// switch, the old generation is never touched: a failure stops the new one and leaves the old
// serving, and a drain is bounded, so the old generation always exits.
import type { Logger } from 'pino';
import type { HearthConfig } from '../../agent/config/load-config.js';
import { OpsError } from '../ops-errors.js';
import type { Supervisor } from '../supervisor.js';
import { preflight } from './preflight.js';
import type { PhaseClock } from './progress.js';
import type { BuildRef } from './upgrade-state.js';
import type { GenerationSpec, RetireReport, WorkerGeneration } from './worker-generation.js';

export interface HandoffInput {
  readonly supervisor: Supervisor;
  readonly clock: PhaseClock;
  readonly logger: Logger;
  /** The build to start. */
  readonly target: BuildRef;
  /** The configuration the new generation runs (a reload's new one). */
  readonly config: HearthConfig;
  /** Deadlines and headroom come from the configuration in force. */
  readonly upgrade: HearthConfig['upgrade'];
  readonly generation: number;
  readonly spec: GenerationSpec;
  /** For the disk preflight; absent when nothing new was installed. */
  readonly artifactBytes?: number;
  readonly ipcTimeoutMs: number;
  /** Runs right after the switch, before the old generation drains. */
  readonly onSwitched?: (gen: WorkerGeneration) => Promise<void> | void;
}

export interface HandoffDone {
  readonly gen: WorkerGeneration;
  readonly fromGeneration: number;
  /** When the last new worker reported ready (epoch ms). */
  readonly readyAt: number;
  /** ready → every old worker exited. */
  readonly handoffMs: number;
  readonly retired: RetireReport;
}

const MiB = 1024 * 1024;

export async function runHandoff(i: HandoffInput): Promise<HandoffDone> {
  const { supervisor, clock, upgrade } = i;
  const old = supervisor.active;
  if (!old || supervisor.stopping) throw new OpsError('HEARTH_ERR_DRAINING', 'the ops-agent is shutting down');

  clock.enter('preflight', 'checking free memory and disk');
  const reports = await supervisor.collectStatus(i.ipcTimeoutMs);
  const rss = reports.filter((r) => r.info.generation === old.number).flatMap((r) => (r.status ? [r.status.rssBytes] : []));
  const pf = await preflight({
    workerRss: rss,
    workers: i.config.workers,
    memoryHeadroom: upgrade.memoryHeadroom,
    stateDir: i.config.stateDir,
    ...(i.artifactBytes !== undefined ? { artifactBytes: i.artifactBytes } : {}),
    diskHeadroom: upgrade.diskHeadroom,
  });
  clock.note(
    `memory ${(pf.memory.requiredBytes / MiB).toFixed(1)} MiB needed, ${(pf.memory.availableBytes / MiB).toFixed(0)} MiB available` +
      (pf.disk ? `; disk ${(pf.disk.requiredBytes / MiB).toFixed(1)} MiB needed, ${(pf.disk.availableBytes / MiB).toFixed(0)} MiB available` : ''),
  );

  clock.enter('start', `forking generation ${i.generation}: ${i.config.workers} worker(s) of ${i.target.version}`);
  let gen: WorkerGeneration;
  try {
    gen = await supervisor.launch(i.spec, {
      readyTimeoutMs: upgrade.readyTimeoutMs,
      drainMs: upgrade.drainTimeoutMs,
      onForked: (pids) => clock.enter('ready', `waiting up to ${upgrade.readyTimeoutMs} ms for pid(s) ${pids.join(', ')} to report ready`),
    });
  } catch (err) {
    throw generationFailed(err, i.generation, i.target.version);
  }
  const readyAt = Date.now();
  supervisor.activate(gen);
  try {
    await i.onSwitched?.(gen);
  } catch (err) {
    // Past the switch there is no going back: the new generation serves, the old one must leave.
    i.logger.error({ err }, 'post-switch step failed; continuing the hand-off');
  }

  clock.enter('drain', `draining generation ${old.number} (${old.version}) within ${upgrade.drainTimeoutMs} ms`);
  const retired = await supervisor.retire(old, upgrade.drainTimeoutMs);
  const handoffMs = Date.now() - readyAt;
  if (retired.killed.length > 0) clock.note(`killed pid(s) ${retired.killed.join(', ')}: not exited within ${upgrade.drainTimeoutMs} ms`);
  clock.note(`generation ${old.number} exited ${handoffMs} ms after generation ${gen.number} was ready`);
  i.logger.info({ from: old.number, to: gen.number, handoffMs, drained: retired.drained, killed: retired.killed }, 'hand-off complete');
  return { gen, fromGeneration: old.number, readyAt, handoffMs, retired };
}

/** A protocol mismatch keeps its code; any other reason a generation did not come up is GENERATION_FAILED. */
function generationFailed(err: unknown, generation: number, version: string): OpsError {
  const e = err as { code?: unknown; message?: unknown; details?: Record<string, unknown> };
  const reason = typeof e.message === 'string' ? e.message : String(err);
  const details = { generation, version, ...(typeof e.code === 'string' ? { cause: e.code } : {}), ...(e.details ?? {}) };
  if (e.code === 'HEARTH_ERR_PROTOCOL_MISMATCH') return new OpsError('HEARTH_ERR_PROTOCOL_MISMATCH', `generation ${generation} (${version}): ${reason}`, details);
  if (e.code === 'HEARTH_ERR_DRAINING') return new OpsError('HEARTH_ERR_DRAINING', reason, details);
  return new OpsError('HEARTH_ERR_GENERATION_FAILED', `generation ${generation} (${version}) failed: ${reason}`, details);
}
