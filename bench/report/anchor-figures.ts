// The anchors' figures (scenarios/anchors.ts), shared by the report and the budgets: the row of
// each path at each rate, what a path adds over the direct echo at the same rate, and Hearth's CPU
// per call over another path's. A missing or skipped row gives null, and notMeasured() says why:
// never a number made up in its place.
import { cpuMsPerCall, latencyRow, pairedAddedP50 } from './derived.js';
import type { LatencyRow, Row } from './report-types.js';

/** The rates the issue asks the anchors at (each path is a row at each). */
export const ANCHOR_RATES = [300, 1000] as const;

export type AnchorPath = 'direct' | 'haproxy' | 'relay' | 'hearth';
export const ANCHOR_PATHS: readonly AnchorPath[] = ['direct', 'haproxy', 'relay', 'hearth'];

export const ANCHOR_NAMES: Record<AnchorPath, string> = {
  direct: 'direct node:http echo',
  haproxy: '2 HAProxy hops',
  relay: 'Node relay',
  hearth: 'Hearth',
};

export function anchorRowId(path: AnchorPath, rate: number): string {
  return `anchor-${path}-${rate}`;
}

export function anchorRow(rows: readonly Row[], path: AnchorPath, rate: number): LatencyRow | null {
  const row = latencyRow(rows, anchorRowId(path, rate));
  return row === null || row.latencyMs.count === 0 ? null : row;
}

/** Why the rows of `paths` at `rate` cannot be compared (skipped, not in this run, no call completed), or null. */
export function notMeasured(rows: readonly Row[], paths: readonly AnchorPath[], rate: number): string | null {
  const why = paths.flatMap((path) => {
    const id = anchorRowId(path, rate);
    const row = rows.find((r) => r.id === id);
    if (row === undefined) return [`${id} not in this run`];
    if (row.kind === 'skipped') return [`${id} skipped: ${row.reason}`];
    return anchorRow(rows, path, rate) === null ? [`${id} completed no call`] : [];
  });
  return why.length === 0 ? null : why.join('; ');
}

export interface AddedOverDirect {
  /** Whole-run percentiles minus the direct row's, ms. */
  p50: number;
  p99: number;
  /** Median over rounds of the per-round p50 difference (null with fewer than two rounds). */
  pairedP50: number | null;
}

export function addedOverDirect(rows: readonly Row[], path: AnchorPath, rate: number): AddedOverDirect | null {
  const row = anchorRow(rows, path, rate);
  const direct = anchorRow(rows, 'direct', rate);
  if (row === null || direct === null) return null;
  return {
    p50: row.latencyMs.p50 - direct.latencyMs.p50,
    p99: row.latencyMs.p99 - direct.latencyMs.p99,
    pairedP50: pairedAddedP50(row, rows, direct.id),
  };
}

/** The added p50 a budget judges: the median of rounds when there are rounds, the whole run otherwise. */
export function judgedAddedP50(added: AddedOverDirect): number {
  return added.pairedP50 ?? added.p50;
}

export function anchorCpuMsPerCall(rows: readonly Row[], path: AnchorPath, rate: number): number | null {
  const row = anchorRow(rows, path, rate);
  return row === null ? null : cpuMsPerCall(row);
}

/** Hearth's CPU per call over `other`'s at the same rate. */
export function hearthCpuRatio(rows: readonly Row[], other: AnchorPath, rate: number): number | null {
  const hearth = anchorCpuMsPerCall(rows, 'hearth', rate);
  const base = anchorCpuMsPerCall(rows, other, rate);
  return hearth === null || base === null || base <= 0 ? null : hearth / base;
}

export function rateText(rate: number): string {
  return `${rate.toLocaleString('en-US')}/s`;
}
