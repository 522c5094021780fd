// Smoke test of the benchmark harness (issue #7): a 2 s floor row and, when the agent is built, one
// short Hearth row, each in two interleaved rounds, through the same code `npm run bench` runs; and
// the rows of issue #5 (wire state, two-agent invoke, failover) and the blast radius of issue #12
// (a quiet app beside each abuse) at a low rate. It
// asserts that rows and a well-formed report come out — never a timing threshold (the numbers
// belong to bench/results/).
import { existsSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { CleanupStack } from '../../bench/harness/cleanup-stack.js';
import { budgetDefs } from '../../bench/report/budgets.js';
import { renderMarkdown } from '../../bench/report/markdown-report.js';
import type { FailoverRow, LatencyRow, RunSettings } from '../../bench/report/report-types.js';
import { runBench } from '../../bench/run-bench.js';
import { failoverScenario } from '../../bench/scenarios/failover.js';
import { floorScenario } from '../../bench/scenarios/floor.js';
import { grpcEchoScenario } from '../../bench/scenarios/grpc-echo.js';
import { invokeScenario } from '../../bench/scenarios/invoke.js';
import { abuses } from '../../bench/load/abuses.js';
import { blastRadiusScenario, blastRowId, CPU_NEIGHBOUR_ID, WRITE_FLOOD_ID } from '../../bench/scenarios/blast-radius.js';
import { stateWireScenario } from '../../bench/scenarios/state-wire.js';
import type { Scenario } from '../../bench/scenarios/scenario.js';
import { HEARTH_MAIN } from '../support/hearth-process.js';

const settings: RunSettings = {
  quick: true,
  only: ['smoke'],
  rate: 200,
  durationMs: 2_000,
  rounds: 2,
  warmupMs: 300,
  connections: 4,
  payloadBytes: 1024,
  closedConcurrency: 4,
  closedDurationMs: 1_000,
  idleConnections: 10,
  profile: false,
};

const hearthHttpGet: Scenario = {
  kind: 'rate',
  id: 'smoke-hearth',
  title: 'one short Hearth state get over HTTP',
  requires: [],
  async rows(ctx) {
    const hearth = await ctx.env.hearth();
    return [{
      server: hearth,
      target: { kind: 'hearth-http', op: 'get', socketPath: hearth.httpSocket, token: hearth.token, payloadBytes: ctx.settings.payloadBytes },
      meta: { id: 'smoke-hearth-http-get', scenario: 'Hearth state get', transport: 'HTTP', baselineId: 'floor' },
    }];
  },
};

function assertRow(t: ExecutionContext, row: LatencyRow | undefined, id: string): void {
  t.truthy(row, `row ${id} present`);
  if (row === undefined) return;
  t.true(row.requests > 0, `${id}: requests`);
  t.is(row.errors, 0, `${id}: errors ${row.errorSamples.join('; ')}`);
  t.is(row.latencyMs.count, row.requests);
  t.true(Number.isFinite(row.latencyMs.p99) && row.latencyMs.p99 >= row.latencyMs.p50);
  t.true(row.server.rssMb > 0, `${id}: server RSS sampled`);
  t.is(row.server.windows.length, settings.rounds, `${id}: one measured window per round`);
}

test('the harness produces a floor row, a Hearth row and a well-formed report', async (t) => {
  const withHearth = existsSync(HEARTH_MAIN);
  if (!withHearth) t.log(`${HEARTH_MAIN} not built: floor row only`);
  const cleanup = new CleanupStack();
  const progress: string[] = [];
  try {
    const report = await runBench(settings, withHearth ? [floorScenario, hearthHttpGet] : [floorScenario], cleanup,
      (line) => progress.push(line));
    t.deepEqual(report.failures, [], progress.join('\n'));
    const latency = report.rows.filter((r): r is LatencyRow => r.kind === 'latency');
    assertRow(t, latency.find((r) => r.id === 'floor'), 'floor');
    if (withHearth) assertRow(t, latency.find((r) => r.id === 'smoke-hearth-http-get'), 'smoke-hearth-http-get');
    t.is(report.budgets.length, budgetDefs.length);
    t.true(report.budgets.every((b) => ['met', 'MISSED', 'pending', 'not run'].includes(b.status)));
    t.true(report.machine.cores > 0 && report.machine.commit.length > 0);
    t.notThrows(() => JSON.parse(JSON.stringify(report)) as unknown);
    t.regex(renderMarkdown(report), /\| floor: raw socket echo 1 KB \| unix \|/);
    t.is(cleanup.size, 0, 'every process the harness started was stopped');
  } finally {
    await cleanup.runAll((line) => t.log(line));
  }
});

test.serial('the wire state and two-agent invoke rows come out with every call answered', async (t) => {
  const cleanup = new CleanupStack();
  const progress: string[] = [];
  try {
    const report = await runBench(settings, [floorScenario, grpcEchoScenario, stateWireScenario, invokeScenario], cleanup,
      (line) => progress.push(line));
    t.deepEqual(report.failures, [], progress.join('\n'));
    const latency = report.rows.filter((r): r is LatencyRow => r.kind === 'latency');
    for (const id of ['hearth-wire-get', 'hearth-wire-save', 'invoke-wire', 'invoke-grpc', 'invoke-wire-local']) {
      assertRow(t, latency.find((r) => r.id === id), id);
    }
    t.not(report.budgets.find((b) => b.id === 'invoke-added')?.status, 'not run');
    t.not(report.budgets.find((b) => b.id === 'wire-get-vs-floor')?.status, 'not run');
    t.is(cleanup.size, 0, 'every process the harness started was stopped');
  } finally {
    await cleanup.runAll((line) => t.log(line));
  }
});

test.serial('the quiet app never fails beside any abuse, the flood\'s refusals are counted, and the failover row sees every kill recovered', async (t) => {
  const cleanup = new CleanupStack();
  const progress: string[] = [];
  try {
    // 64 flood lanes against 8 in flight per worker: refusals by the in-flight quota, whatever the speed.
    const report = await runBench({ ...settings, closedConcurrency: 64 }, [blastRadiusScenario, failoverScenario], cleanup,
      (line) => progress.push(line));
    t.deepEqual(report.failures, [], progress.join('\n'));
    const latency = report.rows.filter((r): r is LatencyRow => r.kind === 'latency');
    for (const id of ['noisy-quiet-alone', 'noisy-quiet-flooded', CPU_NEIGHBOUR_ID, WRITE_FLOOD_ID, ...abuses.map(blastRowId)]) {
      const row = latency.find((r) => r.id === id);
      t.is(row?.rounds?.length, 2, `${id}: both rounds ran`);
      t.truthy(row, id);
      t.is(row?.errors, 0, `${id}: the quiet app's calls all succeed`);
    }
    const flood = latency.find((r) => r.id === 'noisy-flood');
    t.true((flood?.requests ?? 0) > 0, 'the flood ran');
    t.true((flood?.errorCodes?.HEARTH_ERR_RESOURCE_EXHAUSTED ?? 0) > 0, 'its quota refused some of it');
    const failover = report.rows.find((r): r is FailoverRow => r.kind === 'failover');
    t.is(failover?.repetitions.length, 2);
    t.true(failover?.repetitions.every((r) => r.firstSuccessMs !== null && r.detectionMs !== null), progress.join('\n'));
    t.regex(renderMarkdown(report), /## Failover to a sibling agent/);
    t.is(cleanup.size, 0, 'every process the harness started was stopped');
  } finally {
    await cleanup.runAll((line) => t.log(line));
  }
});
