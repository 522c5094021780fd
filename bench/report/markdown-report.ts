// Renders a run as markdown: the same text goes to stdout and to bench/results/<date>-<commit>.md.
import {
  addedOverDirect, ANCHOR_NAMES, ANCHOR_PATHS, ANCHOR_RATES, anchorCpuMsPerCall, anchorRow, anchorRowId, hearthCpuRatio, rateText,
} from './anchor-figures.js';
import { addedOverBaseline, p50Ratio, pairedP50Ratio, roundP50Spread, throughputRatio } from './derived.js';
import type {
  BenchReport, BudgetResult, FailoverRow, LatencyRow, MemoryRow, PendingRow, ProcessMemoryRow, Row, SkippedRow,
} from './report-types.js';

const ms = (value: number): string => value.toFixed(3);
const signed = (value: number): string => `${value >= 0 ? '+' : ''}${value.toFixed(3)}`;
const int = (value: number): string => Math.round(value).toLocaleString('en-US');
const mb = (value: number): string => value.toFixed(1);

function table(header: string[], body: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}

function budgetCell(row: Row, budgets: readonly BudgetResult[]): string {
  return budgets.filter((b) => b.rowIds.includes(row.id)).map((b) => {
    const verdict = b.perRow?.[row.id] ?? b;
    return `${verdict.status}: ${b.text.replace(/^Hearth /, '')} — ${verdict.detail}`;
  }).join('; ');
}

function openLoopTable(rows: readonly Row[], latency: LatencyRow[], budgets: readonly BudgetResult[]): string {
  return table(
    ['scenario', 'transport', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'target/s', 'achieved/s', 'requests', 'errors',
      'CPU % (server)', 'RSS MB (server)', 'added p50', 'added p90', 'added p99', 'p50 × floor', 'round p50 min / median / max',
      'p50 × baseline, median of rounds',
      'generator CPU % · send lag p99 ms', 'load 1m', 'budget'],
    latency.map((r) => {
      const added = addedOverBaseline(r, rows);
      const floor = r.id === 'floor' ? null : p50Ratio(r, rows, 'floor');
      const spread = roundP50Spread(r);
      const paired = r.baselineId === null ? null : pairedP50Ratio(r, rows, r.baselineId);
      const l = r.latencyMs;
      return [r.scenario, r.transport, ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p999), int(r.targetRate ?? 0), int(r.achievedRate),
        int(r.requests), int(r.errors), `${r.server.cpuPercent.toFixed(0)} (${r.server.label})`, mb(r.server.rssMb),
        added === null ? '' : `${signed(added.p50)} vs ${r.baselineId ?? ''}`, added === null ? '' : signed(added.p90),
        added === null ? '' : signed(added.p99), floor === null ? '' : `${floor.toFixed(2)}×`,
        spread === null ? '' : `${ms(spread.min)} / ${ms(spread.median)} / ${ms(spread.max)}`,
        paired === null ? '' : `${paired.toFixed(2)}× ${r.baselineId ?? ''}`,
        `${r.generatorCpuPercent.toFixed(0)} · ${r.sendLagMs === null ? '' : ms(r.sendLagMs.p99)}`, r.loadAverage1m.toFixed(2),
        budgetCell(r, budgets)];
    }));
}

function closedLoopTable(rows: readonly Row[], closed: LatencyRow[]): string {
  return table(
    ['scenario', 'transport', 'in flight', 'req/s', 'req/s per worker', 'vs bare server', 'req/s per server core',
      'p50 ms', 'p99 ms', 'requests', 'errors', 'CPU % (server)', 'CPU % (generator)', 'RSS MB (server)'],
    closed.map((r) => {
      const ratio = throughputRatio(r, rows);
      const perCore = r.server.cpuPercent > 0 ? r.achievedRate / (r.server.cpuPercent / 100) : 0;
      return [r.scenario, r.transport, int(r.concurrency ?? 0), int(r.achievedRate),
        r.perWorkerRate === null ? '' : int(r.perWorkerRate), ratio === null ? '' : `${ratio.toFixed(2)}× ${r.baselineId ?? ''}`,
        int(perCore),
        ms(r.latencyMs.p50), ms(r.latencyMs.p99), int(r.requests), int(r.errors),
        `${r.server.cpuPercent.toFixed(0)} (${r.server.label})`, r.generatorCpuPercent.toFixed(0), mb(r.server.rssMb)];
    }));
}

function memoryTable(memory: MemoryRow[], budgets: readonly BudgetResult[]): string {
  return table(
    ['scenario', 'transport', 'opened', 'errors', 'worker RSS idle MB', 'worker RSS with connections MB',
      'worker PSS idle / with MB', 'agent RSS before MB', 'agent RSS after MB', 'KB per connection', 'budget'],
    memory.map((r) => [r.scenario, r.transport, int(r.opened), int(r.errors), r.workerRssIdleMb.map(mb).join(' / '),
      r.workerRssWithConnectionsMb.map(mb).join(' / '),
      `${r.workerPssIdleMb.map(mb).join(' / ')} → ${r.workerPssWithConnectionsMb.map(mb).join(' / ')}`,
      mb(r.rssBeforeMb), mb(r.rssAfterMb), r.perConnectionKb.toFixed(1),
      budgetCell(r, budgets)]));
}

function failoverTable(row: FailoverRow, budgets: readonly BudgetResult[]): string {
  const f = (v: number | null): string => (v === null ? '—' : v.toFixed(1));
  const codes = (c: Record<string, number>): string => Object.entries(c).map(([code, n]) => `${code} ${n}`).join(', ');
  return [
    `${row.scenario}. min / median / max: ${f(row.minMs)} / ${f(row.medianMs)} / ${f(row.maxMs)} ms. ${budgetCell(row, budgets)}`,
    '',
    table(['kill', 'kill → first success via sibling ms', 'SDK detectionMs', 'kill → switch ms', 'reason', 'calls after kill', 'failed', 'failed by code'],
      row.repetitions.map((r, i) => [String(i + 1), f(r.firstSuccessMs), f(r.detectionMs), f(r.switchMs), r.reason, int(r.calls), int(r.failed),
        codes(r.errorCodes)])),
  ].join('\n');
}

/**
 * The anchors (scenarios/anchors.ts) side by side at each rate: latency, what each path adds over
 * the direct echo, CPU per call over every process of its path, and Hearth's CPU per call over the
 * relay's and HAProxy's. A skipped row says why.
 */
function anchorsTable(rows: readonly Row[]): string {
  const x = (ratio: number | null): string => (ratio === null ? '—' : `${ratio.toFixed(2)}×`);
  const body = ANCHOR_RATES.flatMap((rate) => ANCHOR_PATHS.flatMap((path): string[][] => {
    const id = anchorRowId(path, rate);
    const found = rows.find((r) => r.id === id);
    if (found === undefined) return [];
    if (found.kind === 'skipped') return [[rateText(rate), ANCHOR_NAMES[path], `skipped: ${found.reason}`, '', '', '', '', '', '', '', '', '']];
    const row = anchorRow(rows, path, rate);
    if (row === null) return [[rateText(rate), ANCHOR_NAMES[path], 'no call completed', '', '', '', '', '', '', '', '', '']];
    const l = row.latencyMs;
    const added = path === 'direct' ? null : addedOverDirect(rows, path, rate);
    const cpu = anchorCpuMsPerCall(rows, path, rate);
    const hearthOver = path === 'relay' || path === 'haproxy' ? x(hearthCpuRatio(rows, path, rate)) : '';
    return [[rateText(rate), ANCHOR_NAMES[path], ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p999),
      added === null ? '' : `${signed(added.p50)} / ${signed(added.p99)}`, `${int(row.achievedRate)} · ${int(row.errors)}`,
      cpu === null ? '' : ms(cpu), `${row.server.cpuPercent.toFixed(0)} (${row.server.label})`, hearthOver, row.loadAverage1m.toFixed(2)]];
  }));
  return table(['rate', 'path', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'added p50 / p99 over direct ms', 'achieved/s · errors',
    'CPU ms per call', 'CPU % (every process of the path)', 'Hearth CPU per call ÷ this', 'load 1m'], body);
}

function skippedTable(skipped: SkippedRow[]): string {
  return table(['row', 'scenario', 'rate', 'why'], skipped.map((r) => [r.id, r.scenario, rateText(r.targetRate), r.reason]));
}

function pendingTable(pending: PendingRow[]): string {
  return table(['scenario', 'added by', 'note'], pending.map((r) => [r.scenario, r.issue, r.note]));
}

export function renderMarkdown(report: BenchReport): string {
  const { machine: m, settings: s, rows, budgets } = report;
  const latency = rows.filter((r): r is LatencyRow => r.kind === 'latency');
  const open = latency.filter((r) => r.mode === 'open');
  const closed = latency.filter((r) => r.mode === 'closed');
  const memory = rows.filter((r): r is MemoryRow => r.kind === 'memory');
  const pending = rows.filter((r): r is PendingRow => r.kind === 'pending');
  const floor = rows.filter((r): r is ProcessMemoryRow => r.kind === 'process-memory');
  const failover = rows.filter((r): r is FailoverRow => r.kind === 'failover');
  const skipped = rows.filter((r): r is SkippedRow => r.kind === 'skipped');
  const anchors = rows.some((r) => r.id.startsWith('anchor-'));
  const lag = open.filter((r) => r.sendLagMs !== null).map((r) => r.sendLagMs?.p99 ?? 0);
  const out: string[] = [
    `# Hearth benchmark — ${m.date} — ${m.commit}${m.dirty ? ' (uncommitted changes)' : ''}`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGb.toFixed(1)} GB RAM, Node ${m.node}, ${m.os}; `
      + `load average ${m.loadAverageStart.map((v) => v.toFixed(2)).join(' ')} at start, `
      + `${m.loadAverageEnd.map((v) => v.toFixed(2)).join(' ')} at end.`,
    `Run: ${s.quick ? 'quick' : 'full'}${s.only === null ? '' : ` (only ${s.only.join(', ')})`}; open loop ${s.rate} req/s × `
      + `${s.durationMs / 1000} s per row in ${s.rounds} interleaved round${s.rounds === 1 ? '' : 's'} after ${s.warmupMs / 1000} s warm-up, ${s.connections} connections, ${s.payloadBytes} B payloads; `
      + `closed loop ${s.closedConcurrency} in flight × ${s.closedDurationMs / 1000} s; ${s.idleConnections} idle connections. `
      + `${report.startedAt} → ${report.finishedAt}.`,
    '',
    'Latency in ms from each request\'s intended send time (open loop, no coordinated omission), HDR histogram. '
      + '"added" = this row minus its baseline row in this run. CPU is % of one core summed over the server\'s '
      + 'processes; RSS is VmRSS summed over them, at the end of the window.',
  ];
  if (open.length > 0) out.push('', '## Latency at a fixed rate (open loop)', '', openLoopTable(rows, open, budgets));
  if (lag.length > 0) out.push('', `Generator health: requests left at most ${ms(Math.max(...lag))} ms late (p99 of send lag, worst row).`);
  if (skipped.length > 0) out.push('', '## Skipped rows (a prerequisite missing on this machine)', '', skippedTable(skipped));
  if (anchors) {
    out.push('', '## Anchors: one HTTP/1.1 call, 1 KB, four ways', '',
      'Each path from an HTTP/1.1 client on a Unix socket to a 1 KB echo and back, at each rate in the same run. '
      + 'CPU per call = the CPU of every process of the path (the column beside it) ÷ the row\'s achieved rate.', '',
      anchorsTable(rows));
  }
  if (closed.length > 0) out.push('', '## Maximum throughput (closed loop)', '', closedLoopTable(rows, closed));
  if (memory.length > 0) out.push('', '## Memory: idle agent and concurrent app connections', '', memoryTable(memory, budgets));
  if (floor.length > 0) {
    out.push('', '## Memory floor: a Node process before it serves anything', '',
      table(['process', 'RSS MB', 'PSS MB'], floor.map((r) => [r.scenario, mb(r.rssMb), mb(r.pssMb)])));
  }
  for (const row of failover) out.push('', '## Failover to a sibling agent', '', failoverTable(row, budgets));
  out.push('', '## Budgets (issue #7)', '', table(['budget', 'status', 'detail'], budgets.map((b) => [b.text, b.status, b.detail])));
  if (pending.length > 0) out.push('', '## Not run yet', '', pendingTable(pending));
  if (report.failures.length > 0) {
    out.push('', '## Failed scenarios', '', ...report.failures.map((f) => `- **${f.scenario}**: ${f.error.split('\n')[0] ?? ''}`));
  }
  for (const p of report.profiles) {
    out.push('', `## CPU profile: ${p.role} pid ${p.pid} (${(p.busyMs / 1000).toFixed(1)} s busy, ${p.file})`, '',
      table(['self time by package', 'ms', '%'], p.byPackage.map((e) => [e.name, int(e.ms), e.percent.toFixed(1)])), '',
      table(['hottest functions (self time)', 'ms', '%'], p.topFunctions.map((e) => [e.name, int(e.ms), e.percent.toFixed(1)])));
  }
  const errorRows = rows.filter((r) => 'errorSamples' in r && r.errorSamples.length > 0);
  if (errorRows.length > 0) {
    out.push('', '## Error samples', '', ...errorRows.flatMap((r) => ('errorSamples' in r ? r.errorSamples : []).map((e) => `- ${r.id}: ${e}`)));
  }
  return `${out.join('\n')}\n`;
}
