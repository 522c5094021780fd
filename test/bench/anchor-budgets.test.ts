// The anchors' figures and budget verdicts (bench/report/anchor-figures.ts, budgets.ts) on rows
// made up here: CPU per call from the CPU column and the achieved rate, Hearth's ratio over the
// relay and HAProxy, added latency over direct, and "not measured" for a missing or skipped row.
// Arithmetic on fixed numbers — no benchmark runs.
import test from 'ava';
import { addedOverDirect, anchorRowId, hearthCpuRatio, type AnchorPath } from '../../bench/report/anchor-figures.js';
import { evaluateBudgets } from '../../bench/report/budgets.js';
import { cpuMsPerCall } from '../../bench/report/derived.js';
import { renderMarkdown } from '../../bench/report/markdown-report.js';
import type { BenchReport, BudgetResult, LatencyRow, RoundFigures, Row, SkippedRow } from '../../bench/report/report-types.js';

interface Figures { p50: number; p99: number; cpuPercent: number; rounds?: RoundFigures[]; errors?: number }

function row(path: AnchorPath, rate: number, f: Figures): LatencyRow {
  return {
    kind: 'latency', id: anchorRowId(path, rate), scenario: `anchor ${path}`, transport: 'HTTP', mode: 'open',
    baselineId: path === 'direct' ? null : anchorRowId('direct', rate), targetRate: rate, concurrency: null, connections: 16,
    achievedRate: rate, perWorkerRate: null, requests: rate * 10, errors: f.errors ?? 0,
    latencyMs: { p50: f.p50, p90: f.p99, p99: f.p99, p999: f.p99, max: f.p99, mean: f.p50, count: rate * 10, encoded: '' },
    sendLagMs: null, generatorCpuPercent: 10, loadAverage1m: 1,
    server: { label: path, cpuPercent: f.cpuPercent, rssMb: 100, peakRssMb: 100, processes: [], windows: [] },
    errorSamples: [], ...(f.rounds === undefined ? {} : { rounds: f.rounds }),
  };
}

const skipped = (path: AnchorPath, rate: number): SkippedRow => ({
  kind: 'skipped', id: anchorRowId(path, rate), scenario: `anchor ${path}`, transport: 'HTTP', targetRate: rate,
  reason: 'haproxy not installed (apt-get install haproxy)',
});

/** Hearth within every budget: 1.4× / 1.375× the relay's CPU per call, +0.4 vs +0.3 ms p50, +1.9 vs +1 ms p99. */
function passing(): Row[] {
  return [
    row('direct', 300, { p50: 0.2, p99: 1, cpuPercent: 6 }),
    skipped('haproxy', 300),
    row('relay', 300, { p50: 0.5, p99: 2, cpuPercent: 30 }),
    row('hearth', 300, { p50: 0.6, p99: 3, cpuPercent: 42 }),
    row('direct', 1000, { p50: 0.2, p99: 1, cpuPercent: 20 }),
    row('haproxy', 1000, { p50: 0.4, p99: 1.5, cpuPercent: 55 }),
    row('relay', 1000, { p50: 0.5, p99: 2, cpuPercent: 80 }),
    row('hearth', 1000, { p50: 0.7, p99: 2.9, cpuPercent: 110 }),
  ];
}

function budget(rows: readonly Row[], id: string): BudgetResult {
  const found = evaluateBudgets(rows).find((b) => b.id === id);
  if (found === undefined) throw new Error(`no budget ${id}`);
  return found;
}

const replace = (rows: Row[], next: Row): Row[] => rows.map((r) => (r.id === next.id ? next : r));

test('CPU per call is the CPU column over the achieved rate; Hearth\'s ratio divides two of them', (t) => {
  const rows = passing();
  const relay = rows.find((r): r is LatencyRow => r.id === 'anchor-relay-300' && r.kind === 'latency');
  t.is(relay === undefined ? null : cpuMsPerCall(relay), 1);
  t.is(hearthCpuRatio(rows, 'relay', 300)?.toFixed(3), '1.400');
  t.is(hearthCpuRatio(rows, 'haproxy', 1000)?.toFixed(3), '2.000');
  t.is(hearthCpuRatio(rows, 'haproxy', 300), null, 'a skipped row gives no ratio');
  const added = addedOverDirect(rows, 'hearth', 1000);
  t.is(added?.p50.toFixed(3), '0.500');
  t.is(added?.p99.toFixed(3), '1.900');
});

test('within every anchor budget, each is met and names its figures', (t) => {
  const rows = passing();
  const cpu = budget(rows, 'anchor-cpu-vs-relay');
  t.is(cpu.status, 'met', cpu.detail);
  t.regex(cpu.detail, /300\/s: 1\.400 vs 1\.000 ms CPU per call = 1\.40× the Node relay/);
  t.regex(cpu.detail, /1,000\/s: 1\.100 vs 0\.800 ms CPU per call = 1\.38×/);
  t.deepEqual(cpu.rowIds, ['anchor-hearth-300', 'anchor-hearth-1000']);
  const p50 = budget(rows, 'anchor-added-p50');
  t.is(p50.status, 'met', p50.detail);
  t.regex(p50.detail, /Hearth \+0\.400 ms, Node relay \+0\.300 ms; limit \+0\.450 ms/);
  t.is(budget(rows, 'anchor-added-p99').status, 'met');
});

test('past a limit the budget is missed; failed Hearth calls miss it too', (t) => {
  const rows = passing();
  t.is(budget(replace(rows, row('hearth', 1000, { p50: 0.7, p99: 2.9, cpuPercent: 130 })), 'anchor-cpu-vs-relay').status, 'MISSED');
  t.is(budget(replace(rows, row('hearth', 300, { p50: 0.7, p99: 3, cpuPercent: 42 })), 'anchor-added-p50').status, 'MISSED');
  t.is(budget(replace(rows, row('hearth', 1000, { p50: 0.7, p99: 3.1, cpuPercent: 110 })), 'anchor-added-p99').status, 'MISSED');
  const failed = budget(replace(rows, row('hearth', 300, { p50: 0.6, p99: 3, cpuPercent: 42, errors: 3 })), 'anchor-cpu-vs-relay');
  t.is(failed.status, 'MISSED');
  t.regex(failed.detail, /3 errors/);
});

test('added p50 is judged on the median of per-round differences when there are rounds', (t) => {
  const rounds = (p50s: number[]): RoundFigures[] => p50s.map((p50) => ({ p50, p99: 1, requests: 100, errors: 0, sendLagP99: null, loadAverage1m: 1 }));
  // Whole run +0.6 over +0.3 would miss; the rounds say +0.40 over +0.30 (medians of 0.4/0.4/2.0 and 0.3/0.3/0.3).
  const rows = [row('direct', 300, { p50: 0.2, p99: 1, cpuPercent: 6, rounds: rounds([0.2, 0.2, 0.2]) }),
    row('relay', 300, { p50: 0.5, p99: 2, cpuPercent: 30, rounds: rounds([0.5, 0.5, 0.5]) }),
    row('hearth', 300, { p50: 0.8, p99: 3, cpuPercent: 42, rounds: rounds([0.6, 0.6, 2.2]) })];
  const p50 = budget(rows, 'anchor-added-p50');
  t.is(p50.status, 'met', p50.detail);
  t.regex(p50.detail, /Hearth \+0\.400 ms, Node relay \+0\.300 ms \(median of rounds\)/);
});

test('a missing or skipped row is "not measured", never a verdict; no anchor rows at all is "not run"', (t) => {
  const rows = replace(passing(), { ...skipped('relay', 1000), reason: 'relay failed to start' });
  const cpu = budget(rows, 'anchor-cpu-vs-relay');
  t.is(cpu.status, 'not run');
  t.is(cpu.perRow?.['anchor-hearth-300']?.status, 'met');
  t.regex(cpu.detail, /1,000\/s not measured \(anchor-relay-1000 skipped: relay failed to start\)/);
  const p99 = budget(rows.filter((r) => r.id !== 'anchor-direct-1000'), 'anchor-added-p99');
  t.is(p99.status, 'not run');
  t.regex(p99.detail, /anchor-direct-1000 not in this run/);
  t.is(budget(passing(), 'anchor-added-p50').status, 'met', 'a skipped HAProxy row does not matter to the relay budgets');
  const none = budget([], 'anchor-cpu-vs-relay');
  t.deepEqual([none.status, none.detail], ['not run', 'needs the anchors rows']);
});

test('the report shows the anchors side by side, the skipped row with its reason, and the ratios', (t) => {
  const rows = passing();
  const report: BenchReport = {
    machine: { cpuModel: 'test', cores: 2, ramGb: 4, node: 'v20', os: 'linux', commit: 'abc', dirty: false, date: '2026-01-01', loadAverageStart: [1, 1, 1], loadAverageEnd: [1, 1, 1] },
    settings: { quick: true, only: ['anchors'], rate: 1000, durationMs: 3000, rounds: 1, warmupMs: 2000, connections: 16, payloadBytes: 1024, closedConcurrency: 32, closedDurationMs: 3000, idleConnections: 10, profile: false },
    startedAt: '', finishedAt: '', rows, budgets: evaluateBudgets(rows), failures: [], profiles: [],
  };
  const md = renderMarkdown(report);
  t.regex(md, /## Anchors: one HTTP\/1\.1 call, 1 KB, four ways/);
  t.regex(md, /\| 300\/s \| 2 HAProxy hops \| skipped: haproxy not installed \(apt-get install haproxy\) \|/);
  t.regex(md, /\| 300\/s \| Node relay \| 0\.500 \|.*\| \+0\.300 \/ \+1\.000 \|.*\| 1\.000 \|.*\| 1\.40× \|/);
  t.regex(md, /\| 1,000\/s \| 2 HAProxy hops \|.*\| 2\.00× \|/);
  t.regex(md, /## Skipped rows/);
});
