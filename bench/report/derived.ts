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

/**
 * Server CPU per completed call, in ms: the CPU column (% of one core, summed over every process
 * the row samples) over the row's own achieved rate. Null for a row that completed nothing.
 */
export function cpuMsPerCall(row: LatencyRow): number | null {
  if (row.achievedRate <= 0) return null;
  return ((row.server.cpuPercent / 100) * 1000) / row.achievedRate;
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

function median(values: number[]): number | null {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return null;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? null) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Median over rounds of combine(this row's round p50, the baseline's same-round p50): rounds i of
 * both ran back to back, so slow-moving interference from other work cancels in each pair, and the
 * median ignores the odd round it did not. Null without at least two rounds on both sides.
 */
function pairedP50(
  row: LatencyRow | null,
  rows: readonly Row[],
  baseId: string,
  combine: (p50: number, baseP50: number) => number | null,
): number | null {
  const a = row?.rounds ?? [];
  const b = latencyRow(rows, baseId)?.rounds ?? [];
  if (a.length < 2 || a.length !== b.length) return null;
  return median(a.flatMap((round, i) => {
    const other = b[i];
    const v = other === undefined ? null : combine(round.p50, other.p50);
    return v === null ? [] : [v];
  }));
}

/** Median over rounds of this row's p50 ÷ the baseline's same-round p50. */
export function pairedP50Ratio(row: LatencyRow | null, rows: readonly Row[], baseId: string): number | null {
  return pairedP50(row, rows, baseId, (p50, base) => (base > 0 ? p50 / base : null));
}

/** Median over rounds of this row's p50 − the baseline's same-round p50, in ms. */
export function pairedAddedP50(row: LatencyRow | null, rows: readonly Row[], baseId: string): number | null {
  return pairedP50(row, rows, baseId, (p50, base) => p50 - base);
}

/** Smallest, median and largest p50 over a row's rounds. */
export function roundP50Spread(row: LatencyRow): { min: number; median: number; max: number } | null {
  const p50s = (row.rounds ?? []).map((r) => r.p50);
  const mid = median(p50s);
  return mid === null || p50s.length < 2 ? null : { min: Math.min(...p50s), median: mid, max: Math.max(...p50s) };
}

/**
 * Median over rounds of this row's p99 ÷ the baseline's same-round p99 (a tail judged the paired
 * way: each round's p99 rests on fewer samples, the median over rounds steadies it).
 */
export function pairedP99Ratio(row: LatencyRow | null, rows: readonly Row[], baseId: string): number | null {
  const a = row?.rounds ?? [];
  const b = latencyRow(rows, baseId)?.rounds ?? [];
  if (a.length < 2 || a.length !== b.length) return null;
  return median(a.flatMap((round, i) => {
    const other = b[i];
    return other === undefined || other.p99 <= 0 ? [] : [round.p99 / other.p99];
  }));
}
