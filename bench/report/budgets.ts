// The budgets of issue #7, judged on the rows of one run. Goals the suite reports against; never
// timing assertions in tests. Budgets whose scenario lands later say which issue adds it.
import {
  addedOverDirect, ANCHOR_RATES, anchorCpuMsPerCall, anchorRow, anchorRowId, hearthCpuRatio, judgedAddedP50, notMeasured, rateText,
  type AnchorPath,
} from './anchor-figures.js';
import { addedOverBaseline, latencyRow, p50Ratio, pairedAddedP50, pairedP50Ratio, pairedP99Ratio } from './derived.js';
import type { BudgetResult, BudgetStatus, FailoverRow, LatencyRow, MemoryRow, Row } from './report-types.js';
import { upgradeFailuresVerdict, upgradePeakVerdict } from './upgrade-budgets.js';

interface BudgetDef {
  id: string;
  text: string;
  evaluate(rows: readonly Row[]): Omit<BudgetResult, 'id' | 'text'>;
}

const x = (ratio: number): string => `${ratio.toFixed(2)}×`;
const plusMs = (ms: number): string => `${ms >= 0 ? '+' : ''}${ms.toFixed(3)} ms`;

function memoryRows(rows: readonly Row[]): MemoryRow[] {
  return rows.filter((r): r is MemoryRow => r.kind === 'memory');
}

function workerRssBudget(limitMb: number, pick: (row: MemoryRow) => number[]): BudgetDef['evaluate'] {
  return (rows) => {
    const memory = memoryRows(rows).filter((r) => pick(r).length > 0);
    if (memory.length === 0) return { status: 'not run', detail: 'idle-connections did not run', rowIds: [] };
    const worst = Math.max(...memory.flatMap(pick));
    const detail = memory.map((r) => `${r.transport}: ${pick(r).map((mb) => mb.toFixed(1)).join(' / ')} MB`).join('; ');
    const perRow = Object.fromEntries(memory.map((r) => {
      const rowWorst = Math.max(...pick(r));
      return [r.id, { status: rowWorst <= limitMb ? 'met' : 'MISSED', detail: `max ${rowWorst.toFixed(1)} MB` } as const];
    }));
    return {
      status: worst <= limitMb ? 'met' : 'MISSED', detail: `max ${worst.toFixed(1)} MB (${detail})`, rowIds: memory.map((r) => r.id), perRow,
    };
  };
}

/**
 * Hearth's Redis get and save against direct ioredis on the same server. Judged on the median of
 * the per-round differences when there are rounds (robust to other work on the machine), on the
 * whole-run p50s otherwise; both are shown.
 */
function redisAdded(rows: readonly Row[]): Omit<BudgetResult, 'id' | 'text'> {
  const limitMs = 0.1;
  const perRow: NonNullable<BudgetResult['perRow']> = {};
  const details: string[] = [];
  for (const op of ['get', 'save'] as const) {
    const row = latencyRow(rows, `hearth-redis-${op}`);
    const added = row === null ? null : addedOverBaseline(row, rows);
    if (row === null || added === null) continue;
    const paired = pairedAddedP50(row, rows, `redis-direct-${op}`);
    const judged = paired ?? added.p50;
    const detail = `${op} ${paired === null ? '' : `median of per-round p50 differences ${plusMs(paired)}; `}`
      + `whole run ${plusMs(added.p50)}`;
    perRow[row.id] = { status: judged <= limitMs ? 'met' : 'MISSED', detail };
    details.push(detail);
  }
  const ids = Object.keys(perRow);
  if (ids.length === 0) return { status: 'not run', detail: 'needs the state-redis and redis-direct rows', rowIds: [] };
  const missed = ids.some((id) => perRow[id]?.status === 'MISSED');
  return { status: missed ? 'MISSED' : 'met', detail: details.join('; '), rowIds: ids, perRow };
}

/**
 * Invoke against a direct app-to-app call of the same run (scenarios/invoke.ts). The budget is
 * the wire row's; the gRPC and local rows get their own verdict against the same limits. Added p50
 * is judged on the median of per-round differences when there are rounds, added p99 on the whole
 * run (a tail needs all the samples).
 */
function invokeAdded(rows: readonly Row[]): Omit<BudgetResult, 'id' | 'text'> {
  const perRow: NonNullable<BudgetResult['perRow']> = {};
  for (const id of ['invoke-wire', 'invoke-grpc', 'invoke-wire-local']) {
    const row = latencyRow(rows, id);
    const added = row === null ? null : addedOverBaseline(row, rows);
    if (row === null || added === null || row.baselineId === null) continue;
    const paired = pairedAddedP50(row, rows, row.baselineId);
    const p50 = paired ?? added.p50;
    const ok = p50 <= 0.2 && added.p99 <= 1 && row.errors === 0;
    perRow[id] = {
      status: ok ? 'met' : 'MISSED',
      detail: `added p50 ${plusMs(p50)}${paired === null ? '' : ' (median of rounds)'}, p99 ${plusMs(added.p99)} vs ${row.baselineId}`
        + `${row.errors > 0 ? `; ${row.errors} errors` : ''}`,
    };
  }
  const wire = perRow['invoke-wire'];
  const ids = Object.keys(perRow);
  if (ids.length === 0) return { status: 'not run', detail: 'needs the invoke rows and their baselines (floor, grpc-echo)', rowIds: [] };
  return {
    status: wire?.status ?? 'not run',
    detail: ids.map((id) => `${id}: ${perRow[id]?.detail ?? ''}`).join('; '),
    rowIds: ids,
    perRow,
  };
}

/** The quiet app's p99 beside the noisy app's flood over its p99 alone (scenarios/blast-radius.ts). */
function noisyNeighbour(rows: readonly Row[]): Omit<BudgetResult, 'id' | 'text'> {
  const flooded = latencyRow(rows, 'noisy-quiet-flooded');
  const alone = latencyRow(rows, 'noisy-quiet-alone');
  if (flooded === null || alone === null || alone.latencyMs.p99 <= 0) return { status: 'not run', detail: 'needs the blast-radius rows', rowIds: [] };
  const whole = flooded.latencyMs.p99 / alone.latencyMs.p99;
  const paired = pairedP99Ratio(flooded, rows, alone.id);
  const judged = paired ?? whole;
  const refused = latencyRow(rows, 'noisy-flood')?.errorCodes?.HEARTH_ERR_RESOURCE_EXHAUSTED ?? 0;
  const ok = judged <= 1.2 && flooded.errors === 0;
  return {
    status: ok ? 'met' : 'MISSED',
    detail: `quiet p99 ${paired === null ? '' : `median of per-round ratios ${x(paired)}; `}whole run `
      + `${flooded.latencyMs.p99.toFixed(3)} vs ${alone.latencyMs.p99.toFixed(3)} ms alone = ${x(whole)}; `
      + `quiet errors ${flooded.errors}; noisy app refused ${refused.toLocaleString('en-US')} times (RESOURCE_EXHAUSTED)`,
    rowIds: [flooded.id],
  };
}

/**
 * The quiet app beside each abuse the agent contains (scenarios/blast-radius.ts; the unlimited
 * write flood is not one: only a quota contains it): its p99 over its p99 alone, the median of the
 * per-round ratios, and no failed call.
 */
function blastRadius(rows: readonly Row[]): Omit<BudgetResult, 'id' | 'text'> {
  const besides = rows.filter((r): r is LatencyRow => r.kind === 'latency' && r.id.startsWith('blast-quiet-')
    && r.id !== 'blast-quiet-write-flood' && r.id !== 'blast-quiet-cpu-neighbour');
  const control = latencyRow(rows, 'blast-quiet-cpu-neighbour');
  const controlRatio = control === null ? null : pairedP99Ratio(control, rows, 'noisy-quiet-alone');
  const alone = latencyRow(rows, 'noisy-quiet-alone');
  if (besides.length === 0 || alone === null || alone.latencyMs.p99 <= 0) return { status: 'not run', detail: 'needs the blast-radius rows', rowIds: [] };
  const perRow = Object.fromEntries(besides.map((r) => {
    const ratio = pairedP99Ratio(r, rows, alone.id) ?? r.latencyMs.p99 / alone.latencyMs.p99;
    const ok = ratio <= 1.2 && r.errors === 0;
    return [r.id, { status: ok ? 'met' : 'MISSED', detail: `p99 ${x(ratio)}${r.errors > 0 ? `, ${r.errors} errors` : ''}` } as const];
  }));
  const missed = Object.entries(perRow).filter(([, v]) => v.status !== 'met');
  return {
    status: missed.length === 0 ? 'met' : 'MISSED',
    detail: Object.entries(perRow).map(([id, v]) => `${id.slice('blast-quiet-'.length)} ${v.detail}`).join('; ')
      + (controlRatio === null ? '' : `; for scale, a process merely busy beside it: p99 ${x(controlRatio)}`),
    rowIds: besides.map((r) => r.id),
    perRow,
  };
}

/** Every repetition's kill → first success via the sibling within 1 s (scenarios/failover.ts). */
function failoverBudget(rows: readonly Row[]): Omit<BudgetResult, 'id' | 'text'> {
  const row = rows.find((r): r is FailoverRow => r.kind === 'failover');
  if (row === undefined) return { status: 'not run', detail: 'needs the failover row', rowIds: [] };
  const never = row.repetitions.filter((r) => r.firstSuccessMs === null).length;
  const f = (v: number | null): string => (v === null ? '—' : `${v.toFixed(0)} ms`);
  const ok = never === 0 && row.maxMs !== null && row.maxMs <= 1000;
  return {
    status: ok ? 'met' : 'MISSED',
    detail: `${row.repetitions.length} kills: min ${f(row.minMs)}, median ${f(row.medianMs)}, max ${f(row.maxMs)}`
      + `${never > 0 ? `; ${never} never recovered` : ''}`,
    rowIds: [row.id],
  };
}

/**
 * A budget on the anchors (scenarios/anchors.ts): at each of `rates`, the Hearth row judged against
 * the rows of `needs` at the same rate. A rate whose rows are missing or skipped is "not measured";
 * the budget is met only when every rate is measured and met, and a Hearth row with failed calls
 * misses it.
 */
function anchorBudget(rates: readonly number[], needs: readonly AnchorPath[],
  judge: (rows: readonly Row[], rate: number) => { ok: boolean; detail: string } | null): BudgetDef['evaluate'] {
  return (rows) => {
    if (!rows.some((r) => r.id.startsWith('anchor-'))) return { status: 'not run', detail: 'needs the anchors rows', rowIds: [] };
    const perRow: NonNullable<BudgetResult['perRow']> = {};
    for (const rate of rates) {
      const why = notMeasured(rows, ['hearth', ...needs], rate);
      const judged = why === null ? judge(rows, rate) : null;
      const errors = anchorRow(rows, 'hearth', rate)?.errors ?? 0;
      perRow[anchorRowId('hearth', rate)] = judged === null
        ? { status: 'not run', detail: `${rateText(rate)} not measured (${why ?? 'no figures'})` }
        : { status: judged.ok && errors === 0 ? 'met' : 'MISSED', detail: `${rateText(rate)}: ${judged.detail}${errors > 0 ? `; ${errors} errors` : ''}` };
    }
    const verdicts = Object.values(perRow);
    const has = (status: BudgetStatus): boolean => verdicts.some((v) => v.status === status);
    return {
      status: has('MISSED') ? 'MISSED' : has('not run') ? 'not run' : 'met',
      detail: verdicts.map((v) => v.detail).join('; '),
      rowIds: Object.keys(perRow).filter((id) => latencyRow(rows, id) !== null),
      perRow,
    };
  };
}

/** (a) Hearth's CPU per call ≤ 1.5× the Node relay's, each summed over every process of its path. */
const anchorCpu = anchorBudget(ANCHOR_RATES, ['relay'], (rows, rate) => {
  const ratio = hearthCpuRatio(rows, 'relay', rate);
  const hearth = anchorCpuMsPerCall(rows, 'hearth', rate);
  const relay = anchorCpuMsPerCall(rows, 'relay', rate);
  if (ratio === null || hearth === null || relay === null) return null;
  return { ok: ratio <= 1.5, detail: `${hearth.toFixed(3)} vs ${relay.toFixed(3)} ms CPU per call = ${x(ratio)} the Node relay` };
});

/** (b), (c) Hearth's added latency over the direct echo ≤ the relay's + `slackMs`. */
function anchorAdded(which: 'p50' | 'p99', slackMs: number): (rows: readonly Row[], rate: number) => { ok: boolean; detail: string } | null {
  return (rows, rate) => {
    const hearth = addedOverDirect(rows, 'hearth', rate);
    const relay = addedOverDirect(rows, 'relay', rate);
    if (hearth === null || relay === null) return null;
    // p50: the median of per-round differences when there are rounds; a tail needs the whole run.
    const paired = which === 'p50' && hearth.pairedP50 !== null && relay.pairedP50 !== null;
    const h = which === 'p50' ? (paired ? judgedAddedP50(hearth) : hearth.p50) : hearth.p99;
    const r = which === 'p50' ? (paired ? judgedAddedP50(relay) : relay.p50) : relay.p99;
    return {
      ok: h <= r + slackMs,
      detail: `added ${which} over direct: Hearth ${plusMs(h)}, Node relay ${plusMs(r)}${paired ? ' (median of rounds)' : ''}; `
        + `limit ${plusMs(r + slackMs)}`,
    };
  };
}

export const budgetDefs: readonly BudgetDef[] = [
  {
    id: 'wire-get-vs-floor',
    text: 'local state get over wire ≤ 3× the raw socket round trip (p50)',
    evaluate(rows) {
      const row = latencyRow(rows, 'hearth-wire-get');
      const whole = p50Ratio(row, rows, 'floor');
      if (row === null || whole === null) return { status: 'not run', detail: 'needs the state-wire and floor rows', rowIds: [] };
      // Judged on the paired per-round ratio when there are rounds, on the whole-run p50s otherwise.
      const paired = pairedP50Ratio(row, rows, 'floor');
      const judged = paired ?? whole;
      return {
        status: judged <= 3 ? 'met' : 'MISSED',
        detail: `${paired === null ? '' : `median of per-round p50 ratios ${x(paired)}; `}whole run p50 ${x(whole)} the floor`,
        rowIds: [row.id],
      };
    },
  },
  {
    id: 'grpc-get-vs-echo',
    text: 'Hearth gRPC state get ≤ 1.25× a bare grpc-js echo (p50)',
    evaluate(rows) {
      const row = latencyRow(rows, 'hearth-grpc-get');
      const base = latencyRow(rows, 'grpc-echo');
      const ratio = p50Ratio(row, rows, 'grpc-echo');
      if (row === null || base === null || ratio === null) return { status: 'not run', detail: 'needs state-grpc-get and grpc-echo rows', rowIds: [] };
      const p99 = row.latencyMs.p99 / base.latencyMs.p99;
      // Judged on the paired per-round ratio when there are rounds (robust to other work on the
      // machine), on the whole-run p50s otherwise; both are shown.
      const paired = pairedP50Ratio(row, rows, 'grpc-echo');
      const judged = paired ?? ratio;
      return {
        status: judged <= 1.25 ? 'met' : 'MISSED',
        detail: `${paired === null ? '' : `median of per-round p50 ratios ${x(paired)}; `}`
          + `whole run p50 ${row.latencyMs.p50.toFixed(3)} vs ${base.latencyMs.p50.toFixed(3)} ms = ${x(ratio)} (p99 ${x(p99)})`,
        rowIds: [row.id],
      };
    },
  },
  { id: 'invoke-added', text: 'two-agent invoke over wire: added p50 ≤ 0.2 ms, p99 ≤ 1 ms', evaluate: invokeAdded },
  { id: 'noisy-neighbour', text: 'a noisy app past its quota raises a quiet app\'s p99 by ≤ 20 %', evaluate: noisyNeighbour },
  { id: 'blast-radius', text: 'no abuse of another app (held streams, subscriptions, connections, crafted payloads, pre-TLS sibling connections) raises a quiet app\'s p99 by > 20 % or fails one of its calls', evaluate: blastRadius },
  { id: 'redis-added', text: 'state through Hearth on Redis: added p50 ≤ 0.1 ms', evaluate: redisAdded },
  { id: 'idle-worker-rss', text: 'idle worker RSS ≤ 60 MB', evaluate: workerRssBudget(60, (r) => r.workerRssIdleMb) },
  {
    id: 'connections-worker-rss',
    text: 'worker RSS ≤ 120 MB with 1,000 app connections',
    evaluate: workerRssBudget(120, (r) => r.workerRssWithConnectionsMb),
  },
  { id: 'upgrade-peak', text: 'upgrade peak RSS ≤ 2× steady', evaluate: upgradePeakVerdict },
  { id: 'upgrade-failures', text: 'zero failed requests during upgrades', evaluate: upgradeFailuresVerdict },
  { id: 'failover', text: 'failover ≤ 1 s', evaluate: failoverBudget },
  {
    id: 'anchor-cpu-vs-relay',
    text: 'HTTP invoke through Hearth: CPU per call ≤ 1.5× the Node relay, at 300/s and 1,000/s (anchors)',
    evaluate: anchorCpu,
  },
  {
    id: 'anchor-added-p50',
    text: 'HTTP invoke through Hearth: added p50 over direct ≤ the Node relay\'s + 0.15 ms, at 300/s (anchors)',
    evaluate: anchorBudget([300], ['direct', 'relay'], anchorAdded('p50', 0.15)),
  },
  {
    id: 'anchor-added-p99',
    text: 'HTTP invoke through Hearth: added p99 over direct ≤ the Node relay\'s + 1 ms, at 1,000/s (anchors)',
    evaluate: anchorBudget([1000], ['direct', 'relay'], anchorAdded('p99', 1)),
  },
];

export function evaluateBudgets(rows: readonly Row[]): BudgetResult[] {
  return budgetDefs.map((def) => ({ id: def.id, text: def.text, ...def.evaluate(rows) }));
}
