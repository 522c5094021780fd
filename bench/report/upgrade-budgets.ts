// The two hot-upgrade budgets (issue #3), judged on the rows measured across upgrades
// (scenarios/upgrade-under-load.ts): no request may fail, and the total RSS while both generations
// overlap may not exceed twice the steady RSS before.
import type { BudgetResult, LatencyRow, Row, UpgradeFigures } from './report-types.js';

type Verdict = Omit<BudgetResult, 'id' | 'text'>;
type UpgradeRow = LatencyRow & { upgrade: UpgradeFigures };

function upgradeRows(rows: readonly Row[]): UpgradeRow[] {
  return rows.filter((r): r is UpgradeRow => r.kind === 'latency' && r.upgrade !== undefined);
}

export function upgradeFailuresVerdict(rows: readonly Row[]): Verdict {
  const measured = upgradeRows(rows);
  if (measured.length === 0) return { status: 'not run', detail: 'upgrade did not run', rowIds: [] };
  const failed = measured.reduce((n, r) => n + r.errors, 0);
  const upgrades = measured[0]?.upgrade.upgrades ?? [];
  const notOk = upgrades.filter((u) => u.result !== 'ok').length;
  const detail = `${measured.map((r) => `${r.transport}: ${r.errors} of ${r.requests}${unanswered(r)}`).join('; ')} failed over ${upgrades.length} upgrades`
    + (notOk > 0 ? `; ${notOk} upgrade(s) did not complete` : '');
  return { status: failed === 0 && notOk === 0 ? 'met' : 'MISSED', detail, rowIds: measured.map((r) => r.id) };
}

/** The load generator counts requests still unanswered after its drain allowance as errors: say how many. */
function unanswered(r: LatencyRow): string {
  const n = r.errorSamples.map((e) => /^(\d+) requests unanswered/.exec(e)?.[1]).find((m) => m !== undefined);
  return n === undefined ? '' : ` (${n} of them unanswered at the end: the server fell behind)`;
}

export function upgradePeakVerdict(rows: readonly Row[]): Verdict {
  const measured = upgradeRows(rows);
  const figures = measured[0]?.upgrade;
  if (figures === undefined || figures.steadyRssMb <= 0) return { status: 'not run', detail: 'upgrade did not run', rowIds: [] };
  const ratio = figures.peakRssMb / figures.steadyRssMb;
  return {
    status: ratio <= 2 ? 'met' : 'MISSED',
    detail: `peak ${figures.peakRssMb.toFixed(1)} MB vs steady ${figures.steadyRssMb.toFixed(1)} MB = ${ratio.toFixed(2)}×`,
    rowIds: measured.map((r) => r.id),
  };
}
