// Figures computed from rows of the same run: latency added over a row's baseline, ratios.
import type { LatencyRow, Row } from './report-types.js';

export interface Added {
  p50: number;
  p90: number;
  p99: number;
}

export function latencyRow(rows: readonly Row[], id: string): LatencyRow | null {
  const row = rows.find((r) => r.id === id);
  return row?.kind === 'latency' ? row : null;
}

/** This row's percentiles minus its baseline's, in ms; null without a baseline in this run. */
export function addedOverBaseline(row: LatencyRow, rows: readonly Row[]): Added | null {
  if (row.baselineId === null) return null;
  const base = latencyRow(rows, row.baselineId);
  if (base === null || base.latencyMs.count === 0 || row.latencyMs.count === 0) return null;
  return {
    p50: row.latencyMs.p50 - base.latencyMs.p50,
    p90: row.latencyMs.p90 - base.latencyMs.p90,
    p99: row.latencyMs.p99 - base.latencyMs.p99,
  };
}

/** p50 of `row` over p50 of row `baseId`; null when either is missing or empty. */
export function p50Ratio(row: LatencyRow | null, rows: readonly Row[], baseId: string): number | null {
  const base = latencyRow(rows, baseId);
  if (row === null || base === null || base.latencyMs.count === 0 || row.latencyMs.count === 0) return null;
  return row.latencyMs.p50 / base.latencyMs.p50;
}

/** Closed loop: achieved rate over the baseline row's achieved rate. */
export function throughputRatio(row: LatencyRow, rows: readonly Row[]): number | null {
  if (row.baselineId === null) return null;
  const base = latencyRow(rows, row.baselineId);
  return base === null || base.achievedRate === 0 ? null : row.achievedRate / base.achievedRate;
}
