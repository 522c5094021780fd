// Runs scenarios in order against shared servers and assembles the report. A failed scenario is
// recorded and the run continues; every process started is stopped before this returns.
import { BenchEnvironment } from './harness/bench-environment.js';
import type { CleanupStack } from './harness/cleanup-stack.js';
import { machineInfo } from './harness/machine-info.js';
import { evaluateBudgets } from './report/budgets.js';
import type { BenchReport, LatencyRow, Row, RunSettings } from './report/report-types.js';
import type { Scenario } from './scenarios/scenario.js';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './harness/repo-root.js';

export async function runBench(settings: RunSettings, selected: readonly Scenario[], cleanup: CleanupStack,
  log: (message: string) => void): Promise<BenchReport> {
  const started = new Date();
  const machine = machineInfo(started);
  const profileDir = settings.profile
    ? path.join(repoRoot, 'bench', 'results', 'profiles', `${machine.date}-${machine.commit}-${Date.now()}`) : null;
  if (profileDir !== null) mkdirSync(profileDir, { recursive: true });
  const env = new BenchEnvironment(cleanup, profileDir);
  const rows: Row[] = [];
  const failures: BenchReport['failures'] = [];
  try {
    for (const scenario of selected) {
      if (cleanup.closed) break; // a signal: stop starting things
      log(`== ${scenario.id}: ${scenario.title}`);
      try {
        rows.push(...await scenario.run({ settings, env, cleanup, log }));
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        failures.push({ scenario: scenario.id, error });
        log(`!! ${scenario.id} failed: ${error}`);
      }
    }
  } finally {
    await env.stopAll();
  }
  machine.loadAverageEnd = os.loadavg();
  let profiles: BenchReport['profiles'] = [];
  try {
    // Only the measured windows of rows served by the shared agent: no start-up, no warm-up.
    const agentRows = rows.filter((r): r is LatencyRow => r.kind === 'latency' && r.server.label.startsWith('ops-agent'));
    profiles = env.profiles(agentRows.map((r) => r.server.window));
  } catch (err) {
    failures.push({ scenario: 'profile', error: err instanceof Error ? err.message : String(err) });
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
