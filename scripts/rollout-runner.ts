// What scripts/rollout does, without touching the process: pre-flight every host, plan the
// batches (canary first), run each batch's hand-offs in parallel (bounded), verify each host
// afterwards (new active version and /readyz 200), and stop at the first batch that pushes the
// failures over the limit — later batches are never touched. The key decision: nothing changes
// until every host has answered the pre-flight, so a typo in the hosts file or a sick host stops
// the rollout before the first hand-off, not halfway through the fleet.
import type { StatusReport } from '../ops-agent/status-report.js';
import type { HostEntry, RolloutOptions } from './rollout-args.js';
import { AdminTcpClient, type Readiness } from './rollout-client.js';
import { describeError, RolloutError } from './rollout-errors.js';
import type { Batch, HostOutcome, RolloutReport, Stop } from './rollout-report.js';

/** Pre-flight questions in flight at once: a fleet of hundreds is asked quickly, not all at once. */
const PREFLIGHT_CONCURRENCY = 32;
const VERIFY_EVERY_MS = 500;

interface Target {
  readonly entry: HostEntry;
  readonly client: AdminTcpClient;
  readonly from: string;
  readonly to: string;
}

export class Rollout {
  readonly #o: RolloutOptions;
  readonly #out: (line: string) => void;
  readonly #interrupted: AbortSignal;
  readonly #outcomes = new Map<string, HostOutcome>();
  readonly #width: number;

  /** `out` receives the progress lines; `interrupted` stops the rollout after the running batch. */
  constructor(options: RolloutOptions, out: (line: string) => void, interrupted: AbortSignal) {
    this.#o = options;
    this.#out = out;
    this.#interrupted = interrupted;
    this.#width = Math.max(...options.hosts.map((h) => h.name.length));
    for (const h of options.hosts) this.#outcomes.set(h.name, { host: h.name, batch: null, from: null, to: null, result: 'not attempted' });
  }

  async run(): Promise<RolloutReport> {
    const o = this.#o;
    const what = o.mode === 'upgrade' ? `upgrade to ${o.targetVersion ?? '?'}` : `rollback${o.fromVersion !== undefined ? ` of hosts on ${o.fromVersion}` : ''}`;
    this.#out(`pre-flight: ${o.hosts.length} host(s), ${what}`);
    const { targets, problems } = await this.#preflight();

    if (problems > 0 && !o.skipUnready) {
      for (const t of targets) this.#set(t.entry, { reason: 'pre-flight failed: nothing was changed' });
      return this.#report([], { reason: 'preflight', message: `${problems} host(s) failed the pre-flight; nothing was changed (--skip-unready leaves them out)` });
    }
    const batches = this.#plan(targets);
    for (const b of batches) for (const t of b.targets) this.#set(t.entry, { batch: b.name });
    const plan = batches.map((b) => ({ name: b.name, hosts: b.targets.map((t) => t.entry.name) }));
    if (targets.length === 0) {
      this.#out('nothing to do: no host needs a hand-off');
      return this.#report(plan, null);
    }
    for (const b of plan) this.#out(`plan: ${b.name}: ${b.hosts.join(', ')}`);
    if (o.dryRun) {
      for (const t of targets) this.#set(t.entry, { reason: 'dry run' });
      return this.#report(plan, null);
    }
    return this.#report(plan, await this.#execute(batches));
  }

  async #preflight(): Promise<{ targets: Target[]; problems: number }> {
    const o = this.#o;
    type Probe = { entry: HostEntry; client: AdminTcpClient } & ({ status: StatusReport; readiness: Readiness } | { error: { code: string; message: string } });
    const probed = await mapBounded(o.hosts, PREFLIGHT_CONCURRENCY, async (entry): Promise<Probe> => {
      const client = new AdminTcpClient(entry, o.token, o.timeoutMs);
      try {
        const [status, readiness] = await Promise.all([client.status(), client.readiness()]);
        return { entry, client, status, readiness };
      } catch (err) {
        return { entry, client, error: describeError(err) };
      }
    });
    const targets: Target[] = [];
    let problems = 0;
    for (const p of probed) {
      const verdict = 'error' in p ? { problem: p.error } : this.#classify(p.status, p.readiness);
      const from = 'status' in p ? p.status.activeVersion : null;
      if ('problem' in verdict) {
        problems += 1;
        const { code, message } = verdict.problem;
        this.#set(p.entry, { from, result: o.skipUnready ? 'skipped' : 'failed', code, reason: `pre-flight: ${message}` });
        this.#line(p.entry, `PROBLEM [${code}] ${message}`);
      } else if ('skip' in verdict) {
        this.#set(p.entry, { from, to: from, result: 'skipped', reason: verdict.skip });
        this.#line(p.entry, `skip: ${verdict.skip}`);
      } else {
        targets.push({ entry: p.entry, client: p.client, from: verdict.from, to: verdict.to });
        this.#set(p.entry, { from: verdict.from, to: verdict.to });
        this.#line(p.entry, `ready, ${verdict.from} → ${verdict.to}`);
      }
    }
    return { targets, problems };
  }

  #classify(s: StatusReport, r: Readiness): { problem: { code: string; message: string } } | { skip: string } | { from: string; to: string } {
    const o = this.#o;
    const busy = s.upgrade.inProgress;
    if (busy) return { problem: { code: 'HEARTH_ERR_UPGRADE_BUSY', message: `a ${busy.kind} to ${busy.toVersion} is in progress (${busy.phase})` } };
    if (!r.ready) return { problem: { code: 'HEARTH_ERR_NOT_READY', message: `not ready: ${r.problems.join('; ') || 'no reason given'}` } };
    if (o.mode === 'upgrade') {
      const to = o.targetVersion ?? '';
      return s.activeVersion === to ? { skip: `already on ${to}` } : { from: s.activeVersion, to };
    }
    if (o.fromVersion !== undefined && s.activeVersion !== o.fromVersion) return { skip: `runs ${s.activeVersion}, not ${o.fromVersion}` };
    const previous = s.upgrade.previous?.version;
    if (previous === undefined) return { problem: { code: 'HEARTH_ERR_NO_PREVIOUS_VERSION', message: `runs ${s.activeVersion} and has no previous version` } };
    return { from: s.activeVersion, to: previous };
  }

  /** Canary first (file order), then batches of batchSize. */
  #plan(targets: readonly Target[]): { name: string; targets: Target[] }[] {
    const batches: { name: string; targets: Target[] }[] = [];
    const canary = Math.min(this.#o.canary, targets.length);
    if (canary > 0) batches.push({ name: 'canary', targets: targets.slice(0, canary) });
    for (let i = canary, n = 1; i < targets.length; i += this.#o.batchSize, n++) {
      batches.push({ name: `batch ${n}`, targets: targets.slice(i, i + this.#o.batchSize) });
    }
    return batches;
  }

  async #execute(batches: readonly { name: string; targets: Target[] }[]): Promise<Stop | null> {
    const o = this.#o;
    const done: Target[] = [];
    for (const [i, batch] of batches.entries()) {
      if (this.#interrupted.aborted) return this.#stopRest(batches.slice(i), { reason: 'interrupted', message: `interrupted before ${batch.name}` });
      this.#out(`== ${batch.name} (${batch.targets.length} host(s)): ${batch.targets.map((t) => t.entry.name).join(', ')}`);
      await mapBounded(batch.targets, o.parallel, (t) => this.#handoff(t));
      const ok = batch.targets.filter((t) => this.#outcomes.get(t.entry.name)?.result === 'ok');
      await Promise.all(ok.map((t) => this.#verify(t, o.verifyTimeoutMs)));
      done.push(...ok);

      const stop = this.#tooManyFailures(batch);
      if (stop) return this.#stopRest(batches.slice(i + 1), stop);
      if (i === batches.length - 1) break;
      if (o.pauseMs > 0 && !this.#interrupted.aborted) {
        this.#out(`pause ${seconds(o.pauseMs)} before ${batches[i + 1]?.name ?? ''}, then re-check the ${done.length} host(s) done so far`);
        await sleep(o.pauseMs, this.#interrupted);
        if (!this.#interrupted.aborted) {
          // A build that crash-loops after its switch is rolled back by the host: catch it here.
          const still = done.filter((t) => this.#outcomes.get(t.entry.name)?.result === 'ok');
          await Promise.all(still.map((t) => this.#verify(t, 0)));
          const healthy = still.filter((t) => this.#outcomes.get(t.entry.name)?.result === 'ok').length;
          this.#out(`re-check: ${healthy} of ${still.length} host(s) still on their new version and ready`);
          const after = this.#tooManyFailures(batch);
          if (after) return this.#stopRest(batches.slice(i + 1), after);
        }
      }
    }
    // An interruption during the last batch leaves nothing undone.
    return null;
  }

  #tooManyFailures(batch: { name: string; targets: Target[] }): Stop | null {
    const failures = [...this.#outcomes.values()].filter((h) => h.result === 'failed').length;
    const inBatch = batch.targets.filter((t) => this.#outcomes.get(t.entry.name)?.result === 'failed').length;
    if (batch.name === 'canary' && inBatch > 0) return { reason: 'failures', message: `the canary failed (${inBatch} host(s))` };
    if (failures > this.#o.maxFailures) return { reason: 'failures', message: `${failures} failed host(s), more than --max-failures ${this.#o.maxFailures}, after ${batch.name}` };
    return null;
  }

  #stopRest(rest: readonly { targets: Target[] }[], stop: Stop): Stop {
    for (const b of rest) for (const t of b.targets) this.#set(t.entry, { result: 'not attempted', reason: `stopped: ${stop.message}` });
    this.#out(`stopped: ${stop.message}`);
    return stop;
  }

  async #handoff(t: Target): Promise<void> {
    const o = this.#o;
    const started = performance.now();
    this.#set(t.entry, { startedAt: new Date().toISOString() });
    const body = o.mode === 'upgrade' ? { artifact: o.artifact ?? '', sha256: o.sha256 ?? '', ...(o.signature !== undefined ? { signature: o.signature } : {}) } : undefined;
    try {
      const final = await t.client.handoff(o.mode, body, (e) => {
        // One line as each phase begins (and for notes within it); durations come with the result.
        if (e.ms === undefined && e.bytes === undefined) this.#line(t.entry, `[${e.phase}]${e.message !== undefined ? ` ${e.message}` : ''}`);
      }, o.handoffTimeoutMs);
      const timing = { phases: final.phases, ...(final.handoffMs !== undefined ? { handoffMs: final.handoffMs } : {}) };
      if (final.result === 'ok') {
        this.#set(t.entry, { result: 'ok', ...timing });
      } else {
        this.#set(t.entry, { result: 'failed', code: final.code ?? 'HEARTH_ERR_INTERNAL', reason: final.message ?? 'no reason given', ...timing });
        this.#line(t.entry, `FAILED [${final.code ?? 'HEARTH_ERR_INTERNAL'}] ${final.message ?? ''}`);
      }
    } catch (err) {
      const { code, message } = describeError(err);
      this.#set(t.entry, { result: 'failed', code, reason: message });
      this.#line(t.entry, `FAILED [${code}] ${message}`);
    } finally {
      this.#set(t.entry, { finishedAt: new Date().toISOString(), durationMs: Math.round(performance.now() - started) });
    }
  }

  /** Polls until the host runs `to` and is ready, or `waitMs` passed (0: one look). */
  async #verify(t: Target, waitMs: number): Promise<void> {
    const started = performance.now();
    const until = started + waitMs;
    let last: RolloutError;
    for (;;) {
      try {
        const [s, r] = await Promise.all([t.client.status(), t.client.readiness()]);
        if (s.activeVersion !== t.to) {
          const lr = s.upgrade.lastResult;
          const why = lr ? ` (last: ${lr.kind} ${lr.from} → ${lr.to} ${lr.result}${lr.reason !== undefined ? `: ${lr.reason}` : ''})` : '';
          last = new RolloutError('HEARTH_ERR_VERIFY_FAILED', `active version is ${s.activeVersion}, expected ${t.to}${why}`);
        } else if (!r.ready) {
          last = new RolloutError('HEARTH_ERR_NOT_READY', `runs ${t.to} but is not ready: ${r.problems.join('; ') || 'no reason given'}`);
        } else {
          break;
        }
      } catch (err) {
        const e = describeError(err);
        last = new RolloutError(e.code, e.message);
      }
      if (performance.now() >= until) {
        this.#set(t.entry, { result: 'failed', code: last.code, reason: `verify: ${last.message}` });
        this.#line(t.entry, `FAILED [${last.code}] verify: ${last.message}`);
        return;
      }
      await sleep(VERIFY_EVERY_MS);
    }
    const h = this.#outcomes.get(t.entry.name);
    if (waitMs > 0 && h?.durationMs !== undefined) this.#set(t.entry, { durationMs: h.durationMs + Math.round(performance.now() - started) });
    if (waitMs > 0) this.#line(t.entry, `ok ${t.from} → ${t.to}: active and ready${h?.handoffMs !== undefined ? ` (hand-off ${h.handoffMs} ms)` : ''}`);
  }

  #report(batches: Batch[], stopped: Stop | null): RolloutReport {
    const hosts = this.#o.hosts.map((h) => this.#outcomes.get(h.name) as HostOutcome);
    // Skipped without a code = already where it should be; skipped with a code = left out as sick.
    const ok = stopped === null && hosts.every((h) => h.result === 'ok' || (h.result === 'skipped' && h.code === undefined) || (this.#o.dryRun && h.result === 'not attempted'));
    return {
      mode: this.#o.mode,
      targetVersion: this.#o.targetVersion ?? null,
      fromVersion: this.#o.fromVersion ?? null,
      dryRun: this.#o.dryRun,
      ok,
      stopped,
      batches,
      hosts,
    };
  }

  #set(entry: HostEntry, change: Partial<HostOutcome>): void {
    const h = this.#outcomes.get(entry.name);
    if (h) this.#outcomes.set(entry.name, { ...h, ...change });
  }

  #line(entry: HostEntry, text: string): void {
    this.#out(`${entry.name.padEnd(this.#width)}  ${text}`);
  }
}

/** Runs fn over items with at most `limit` at once; results in input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A pause as the operator wrote it: 5 min, 30 s, 0.5 s. */
function seconds(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** Resolves after ms, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
