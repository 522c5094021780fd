// Upgrades, rollbacks and reloads: one at a time (a second request is HEARTH_ERR_UPGRADE_BUSY),
// each a hand-off (handoff.ts) framed by its own first steps — install the artifact, find the
// previous build, re-read the configuration — and persisted phase by phase, so that a `kill -9`
// leaves a record the next start turns into "interrupted". After an upgrade the new generation is
// watched: a crash loop within crashLoopWindowMs hands back to the build it replaced.
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { HearthConfig } from '../../agent/config/load-config.js';
import { OpsError, isOpsErrorCode } from '../ops-errors.js';
import type { Supervisor } from '../supervisor.js';
import { CrashLoopWatch } from './crash-loop-watch.js';
import { runHandoff, type HandoffDone } from './handoff.js';
import { PhaseClock, type FinalEvent, type ProgressSink } from './progress.js';
import type { BuildRef, HandoffKind, HandoffResult, UpgradeStateFile } from './upgrade-state.js';
import type { InstallRequest, InstalledVersion, VersionStore } from './version-store.js';
import type { GenerationSpec, WorkerGeneration } from './worker-generation.js';
import { dataHidingChanges } from './reload-checks.js';

export interface UpgradeManagerOptions {
  readonly supervisor: Supervisor;
  /** The artifact store for the configuration in force. */
  readonly store: () => VersionStore;
  readonly state: UpgradeStateFile;
  /** The configuration in force. */
  readonly config: () => HearthConfig;
  readonly specFor: (build: BuildRef, generation: number, config: HearthConfig) => GenerationSpec;
  /** Re-reads and validates the configuration file; throws HEARTH_ERR_CONFIG_INVALID. */
  readonly loadConfig: () => Promise<HearthConfig>;
  /** Before the new generation forks: socket dirs for added apps (throws when it cannot). */
  readonly prepareConfig: (next: HearthConfig) => Promise<void>;
  /** Right after the switch: the new configuration is the one in force. */
  readonly commitConfig: (next: HearthConfig) => Promise<void>;
  /** The reload failed after prepareConfig: undo what it set up for the new configuration (limits). */
  readonly abandonConfig?: (next: HearthConfig) => void;
  readonly logger: Logger;
  readonly ipcTimeoutMs?: number;
}

interface Busy {
  readonly kind: HandoffKind;
  readonly to: string;
}

/** What a hand-off body returns besides the HandoffDone: the build now active. */
interface Outcome extends HandoffDone {
  readonly to: BuildRef;
}

const INSTALL_PHASES: Readonly<Record<string, string>> = {
  download: 'fetching the artifact',
  verify: 'checking its sha256 (and signature) before anything is unpacked',
  unpack: 'unpacking into a temporary directory',
  install: 'moving it into place',
};

type Body = (clock: PhaseClock, setTo: (version: string) => void) => Promise<Outcome>;

export class UpgradeManager {
  readonly #o: UpgradeManagerOptions;
  readonly #log: Logger;
  readonly #watch: CrashLoopWatch;
  #busy: Busy | undefined;
  #current: Promise<FinalEvent> | undefined;
  #lastGeneration = 0;
  #closing = false;
  /** Cancels a download in progress when the ops-agent shuts down. */
  readonly #abort = new AbortController();

  constructor(options: UpgradeManagerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'upgrade' });
    this.#watch = new CrashLoopWatch(options.supervisor, () => this.#o.config().upgrade, (w, reason) => this.#autoRollback(w, reason));
  }

  /** The hand-off in progress, if any. */
  get busy(): Busy | undefined {
    return this.#busy;
  }

  /** Downloads, verifies and installs an artifact, then hands off to it. */
  upgrade(request: InstallRequest, sink: ProgressSink): Promise<FinalEvent> {
    const store = this.#o.store();
    return this.#begin('upgrade', request.source, sink, async (clock, setTo) => {
      let artifactBytes: number | undefined;
      clock.enter('download', `fetching ${request.source}`);
      const installed = await store.install(
        request,
        (p) => {
          if (clock.current !== p.phase) clock.enter(p.phase, p.detail ?? INSTALL_PHASES[p.phase]);
          else if (p.detail !== undefined) clock.note(p.detail);
          if (p.bytes !== undefined) clock.bytes(p.bytes, p.total);
          // The size the store tells once the sha256 matched (a local copy tells none before).
          if (p.phase === 'verify' && p.total !== undefined) artifactBytes = p.total;
        },
        this.#abort.signal,
      );
      setTo(installed.version);
      const from = this.#activeBuild();
      const to = buildOf(installed);
      const done = await this.#handoff(clock, to, this.#o.config(), artifactBytes, (gen) => this.#watch.watch(gen, from));
      return { ...done, to };
    });
  }

  /** Hands back to the previous build (HEARTH_ERR_NO_PREVIOUS_VERSION when there is none). */
  rollback(sink: ProgressSink): Promise<FinalEvent> {
    const previous = this.#o.state.state.previous;
    if (!previous) throw new OpsError('HEARTH_ERR_NO_PREVIOUS_VERSION', 'there is no previous version to roll back to');
    return this.#begin('rollback', previous.version, sink, (clock) => this.#handBackTo(clock, previous));
  }

  /** Re-reads the configuration and hands off to a new generation of the same build running it. */
  reload(sink: ProgressSink): Promise<FinalEvent> {
    const build = this.#activeBuild();
    return this.#begin('reload', build.version, sink, async (clock) => {
      const current = this.#o.config();
      clock.enter('config', `re-reading ${current.source}`);
      const next = await this.#o.loadConfig();
      for (const key of ['runDir', 'stateDir'] as const) {
        if (next[key] !== current[key]) {
          throw new OpsError('HEARTH_ERR_CONFIG_INVALID', `${key} cannot change on reload (${current[key]} → ${next[key]}); restart hearth to move it`);
        }
      }
      const hiding = dataHidingChanges(current, next);
      if (hiding.length > 0) {
        throw new OpsError(
          'HEARTH_ERR_CONFIG_INVALID',
          `the reload would hide data the apps have: ${hiding.join('; ')}. Move the data first, or make the change in two reloads (remove, then add) if hiding it is what you want`,
          { problems: hiding },
        );
      }
      const added = next.apps.filter((a) => !current.apps.some((c) => c.id === a.id)).map((a) => a.id);
      const removed = current.apps.filter((a) => !next.apps.some((c) => c.id === a.id)).map((a) => a.id);
      clock.note(`valid: ${next.apps.length} app(s) (added: ${added.join(', ') || 'none'}; removed: ${removed.join(', ') || 'none'}), ${next.workers} worker(s)`);
      for (const w of next.warnings) clock.note(`warning: ${w}`);
      let committed = false;
      try {
        await this.#o.prepareConfig(next);
        const done = await this.#handoff(clock, build, next, undefined, () => {
          committed = true;
          return this.#o.commitConfig(next);
        });
        return { ...done, to: build };
      } finally {
        if (!committed) this.#o.abandonConfig?.(next);
      }
    });
  }

  /** Installed versions (newest last as the store lists them), the active one and the previous one. */
  async versions(): Promise<{ active: BuildRef | null; previous: BuildRef | null; installed: readonly InstalledVersion[] }> {
    const s = this.#o.state.state;
    const installed = await this.#o.store().list();
    return { active: s.active, previous: s.previous, installed };
  }

  /** No new hand-offs; resolves once the one in progress (if any) has ended. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#watch.stop();
    this.#abort.abort(new OpsError('HEARTH_ERR_DRAINING', 'the ops-agent is shutting down'));
    await this.#current?.catch(() => undefined);
  }

  /** The generation a start has just made active (numbers keep growing from there). */
  started(generation: number): void {
    this.#lastGeneration = Math.max(this.#lastGeneration, generation);
  }

  #activeBuild(): BuildRef {
    const a = this.#o.state.state.active;
    if (!a) throw new OpsError('HEARTH_ERR_INTERNAL', 'no active build recorded');
    return { version: a.version, exec: a.exec, ...(a.dir !== undefined ? { dir: a.dir } : {}) };
  }

  async #handBackTo(clock: PhaseClock, target: BuildRef): Promise<Outcome> {
    clock.enter('locate', `checking ${target.exec}`);
    try {
      await access(target.exec);
    } catch {
      throw new OpsError('HEARTH_ERR_UNKNOWN_VERSION', `version ${target.version} is no longer installed (${target.exec} is missing)`);
    }
    const done = await this.#handoff(clock, target, this.#o.config(), undefined);
    return { ...done, to: target };
  }

  #handoff(
    clock: PhaseClock,
    target: BuildRef,
    config: HearthConfig,
    artifactBytes: number | undefined,
    onSwitched?: (gen: WorkerGeneration) => Promise<void> | void,
  ): Promise<HandoffDone> {
    const generation = Math.max(this.#lastGeneration, this.#o.supervisor.generation) + 1;
    this.#lastGeneration = generation;
    return runHandoff({
      supervisor: this.#o.supervisor,
      clock,
      logger: this.#log,
      target,
      config,
      upgrade: this.#o.config().upgrade,
      generation,
      spec: { ...this.#o.specFor(target, generation, config), strictStart: true },
      ...(artifactBytes !== undefined ? { artifactBytes } : {}),
      ipcTimeoutMs: this.#o.ipcTimeoutMs ?? 2_000,
      ...(onSwitched ? { onSwitched } : {}),
    });
  }

  /** Synchronous admission (BUSY is thrown before any output), then the body runs and is recorded. */
  #begin(kind: HandoffKind, to: string, sink: ProgressSink, body: Body, reason?: string): Promise<FinalEvent> {
    if (this.#closing) throw new OpsError('HEARTH_ERR_DRAINING', 'the ops-agent is shutting down');
    if (this.#busy) {
      throw new OpsError('HEARTH_ERR_UPGRADE_BUSY', `a ${this.#busy.kind} to ${this.#busy.to} is already in progress; try again when it has finished`, { ...this.#busy });
    }
    const busy = { kind, to };
    this.#busy = busy;
    const run = this.#run(busy, sink, body, reason).finally(() => {
      this.#busy = undefined;
      this.#current = undefined;
      // A crash loop noticed while this ran is acted on now.
      setImmediate(() => this.#watch.check());
    });
    this.#current = run;
    return run;
  }

  async #run(busy: { kind: HandoffKind; to: string }, sink: ProgressSink, body: Body, reason: string | undefined): Promise<FinalEvent> {
    const { kind } = busy;
    const state = this.#o.state;
    const startedAt = new Date().toISOString();
    const from = state.state.active?.version ?? 'none';
    const fromGeneration = this.#o.supervisor.generation;
    let to = busy.to;
    const persist = (change: Parameters<UpgradeStateFile['update']>[0]): void => {
      state.update(change).catch((err: unknown) => this.#log.error({ err }, 'cannot persist the upgrade state'));
    };
    const clock = new PhaseClock(sink, (phase) => persist((s) => (s.inProgress ? { ...s, inProgress: { ...s.inProgress, phase } } : s)));
    this.#log.info({ kind, from, to, reason }, 'hand-off begins');
    await state.update((s) => ({ ...s, inProgress: { kind, toVersion: to, phase: 'begin', startedAt } }));

    let outcome: Outcome;
    try {
      outcome = await body(clock, (v) => {
        to = v;
        busy.to = v;
        persist((s) => (s.inProgress ? { ...s, inProgress: { ...s.inProgress, toVersion: v } } : s));
      });
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      const code = isOpsErrorCode(e.code) ? e.code : 'HEARTH_ERR_INTERNAL';
      const message = typeof e.message === 'string' ? e.message : String(err);
      if (code === 'HEARTH_ERR_INTERNAL') this.#log.error({ err, kind }, 'hand-off failed unexpectedly');
      else this.#log.warn({ kind, code, reason: message }, 'hand-off failed; the serving generation is unchanged');
      const phases = clock.finish();
      const result: HandoffResult = { kind, from, to, result: 'failed', code, reason: message, phases, startedAt, finishedAt: new Date().toISOString(), fromGeneration };
      await state.record(result).catch((werr: unknown) => this.#log.error({ err: werr }, 'cannot persist the upgrade result'));
      return { result: 'failed', code, message, kind, from, to, phases };
    }

    clock.enter('done', 'recording the result, pruning old versions');
    const fromBuild = state.state.active;
    const active = { ...outcome.to, generation: outcome.gen.number };
    const previous = kind === 'reload' ? state.state.previous : fromBuild && stripGeneration(fromBuild);
    await this.#prune(active.version, previous?.version);
    const phases = clock.finish();
    const result: HandoffResult = {
      kind,
      from,
      to: active.version,
      result: 'ok',
      ...(reason !== undefined ? { reason } : {}),
      phases,
      startedAt,
      finishedAt: new Date().toISOString(),
      fromGeneration: outcome.fromGeneration,
      toGeneration: outcome.gen.number,
      handoffMs: outcome.handoffMs,
    };
    await state.record(result, () => ({ active, previous: previous ?? null })).catch((err: unknown) => this.#log.error({ err }, 'cannot persist the upgrade result'));
    this.#log.info({ kind, from, to: active.version, generation: active.generation, phases, handoffMs: outcome.handoffMs }, 'hand-off done');
    return { result: 'ok', kind, from, to: active.version, phases, handoffMs: outcome.handoffMs, ...(reason !== undefined ? { message: reason } : {}) };
  }

  async #prune(active: string, previous: string | undefined): Promise<void> {
    try {
      await this.#o.store().prune(this.#o.config().upgrade.keepVersions, previous === undefined ? [active] : [active, previous]);
    } catch (err) {
      this.#log.warn({ err }, 'pruning old versions failed');
    }
  }

  /** The crash-looping generation hands back to the build it replaced. */
  #autoRollback(from: BuildRef, reason: string): boolean {
    if (this.#busy || this.#closing) return false;
    this.#log.error({ to: from.version, reason }, 'automatic rollback');
    let run: Promise<FinalEvent>;
    try {
      run = this.#begin('auto-rollback', from.version, () => undefined, (clock) => this.#handBackTo(clock, from), reason);
    } catch (err) {
      this.#log.error({ err }, 'automatic rollback could not start');
      return false;
    }
    run.then(
      (r) => this.#log.info({ result: r.result, code: r.code }, 'automatic rollback finished'),
      (err: unknown) => this.#log.error({ err }, 'automatic rollback could not run'),
    );
    return true;
  }
}

function buildOf(v: InstalledVersion): BuildRef {
  return { version: v.version, dir: v.dir, exec: path.join(v.dir, v.manifest.entry.worker) };
}

function stripGeneration(b: BuildRef & { generation?: number }): BuildRef {
  return { version: b.version, exec: b.exec, ...(b.dir !== undefined ? { dir: b.dir } : {}) };
}
