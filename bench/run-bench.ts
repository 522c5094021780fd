// Runs the selected scenarios against shared servers and assembles the report: first every
// fixed-rate row (declared by `rate` scenarios, measured interleaved in rounds; a row declared
// skipped goes into the report as it is), then the `custom` scenarios in order. A failed scenario is recorded and the run goes on; every process started is
// stopped before this returns.
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchEnvironment } from './harness/bench-environment.js';
import type { CleanupStack } from './harness/cleanup-stack.js';
import { machineInfo } from './harness/machine-info.js';
import { repoRoot } from '../test/support/repo-root.js';
import { evaluateBudgets } from './report/budgets.js';
import type { BenchReport, LatencyRow, Row, RunSettings } from './report/report-types.js';
import { measureOpenLoopRows } from './scenarios/measure.js';
import type { RateRowSpec, Scenario, ScenarioContext } from './scenarios/scenario.js';

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

async function runScenarios(ctx: ScenarioContext, selected: readonly Scenario[], rows: Row[],
  failures: BenchReport['failures']): Promise<void> {
  const fail = (scenario: string, error: string): void => {
    failures.push({ scenario, error });
    ctx.log(`!! ${scenario} failed: ${error}`);
  };
  const specs: RateRowSpec[] = [];
  const owner = new Map<RateRowSpec, string>();
  for (const scenario of selected) {
    if (scenario.kind !== 'rate' || ctx.cleanup.closed) continue;
    ctx.log(`== ${scenario.id}: ${scenario.title}`);
    try {
      for (const spec of await scenario.rows(ctx)) {
        if ('kind' in spec) {
          ctx.log(`[${spec.id}] skipped: ${spec.reason}`);
          rows.push(spec);
          continue;
        }
        specs.push(spec);
        owner.set(spec, scenario.id);
      }
    } catch (err) {
      fail(scenario.id, messageOf(err));
    }
  }
  if (specs.length > 0) {
    rows.push(...await measureOpenLoopRows(ctx, specs, (spec, error) => fail(owner.get(spec) ?? spec.meta.id, error)));
  }
  for (const scenario of selected) {
    if (scenario.kind !== 'custom' || ctx.cleanup.closed) continue; // closed: a signal, start nothing new
    ctx.log(`== ${scenario.id}: ${scenario.title}`);
    try {
      rows.push(...await scenario.run(ctx));
    } catch (err) {
      fail(scenario.id, messageOf(err));
    }
  }
}

export async function runBench(settings: RunSettings, selected: readonly Scenario[], cleanup: CleanupStack,
  log: (message: string) => void): Promise<BenchReport> {
  const started = new Date();
  const machine = machineInfo(started);
  const profileDir = settings.profile
    ? path.join(repoRoot, 'bench', 'results', 'profiles', `${machine.date}-${machine.commit}-${Date.now()}`) : null;
  if (profileDir !== null) mkdirSync(profileDir, { recursive: true });
  const env = new BenchEnvironment(cleanup, profileDir, log);
  const rows: Row[] = [];
  const failures: BenchReport['failures'] = [];
  try {
    await runScenarios({ settings, env, cleanup, log }, selected, rows, failures);
  } finally {
    await env.stopAll();
  }
  machine.loadAverageEnd = os.loadavg();
  let profiles: BenchReport['profiles'] = [];
  try {
    // Only the measured windows of rows served by the shared agents (and the invoke rows' two
    // agents): no start-up, no warm-up.
    const agentRows = rows.filter((r): r is LatencyRow => r.kind === 'latency'
      && (r.server.label.startsWith('ops-agent') || r.server.label.startsWith('2 agents')));
    profiles = env.profiles(agentRows.flatMap((r) => r.server.windows));
  } catch (err) {
    failures.push({ scenario: 'profile', error: messageOf(err) });
  }
  return {
    machine,
    settings,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    rows,
    budgets: evaluateBudgets(rows),
    failures,
    profiles,
  };
}
