// The outcome of a rollout: one row per host in hosts-file order (the JSON of `--json`), and the
// summary table a person reads at the end. Reasons go under the table, not in it, so the table
// stays one line per host however long an error message is.

export type HostResult = 'ok' | 'failed' | 'skipped' | 'not attempted';

export interface HostOutcome {
  readonly host: string;
  /** `canary`, `batch N`, or null when the host was in no batch (skipped, pre-flight problem). */
  readonly batch: string | null;
  /** Active version at pre-flight (null when the host did not answer). */
  readonly from: string | null;
  /** The version it should end on. */
  readonly to: string | null;
  readonly result: HostResult;
  /** Why it failed (or was left out): the tool's code or the host's own. */
  readonly code?: string;
  readonly reason?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** Hand-off plus verification. */
  readonly durationMs?: number;
  /** The host's own phase timings and ready → old-exited time. */
  readonly phases?: Readonly<Record<string, number>>;
  readonly handoffMs?: number;
}

export interface Batch {
  readonly name: string;
  readonly hosts: readonly string[];
}

export interface Stop {
  readonly reason: 'preflight' | 'failures' | 'interrupted';
  readonly message: string;
}

export interface RolloutReport {
  readonly mode: 'upgrade' | 'rollback';
  readonly targetVersion: string | null;
  readonly fromVersion: string | null;
  readonly dryRun: boolean;
  /** Every targeted host ended on its target version (the exit status is 0 exactly then). */
  readonly ok: boolean;
  readonly stopped: Stop | null;
  readonly batches: readonly Batch[];
  readonly hosts: readonly HostOutcome[];
}

export function formatReport(r: RolloutReport): string {
  const what = r.mode === 'upgrade' ? `upgrade to ${r.targetVersion ?? '?'}` : 'rollback';
  const verdict = r.dryRun ? (r.ok ? 'DRY RUN: pre-flight ok, nothing changed' : 'DRY RUN: pre-flight failed') : r.ok ? 'OK' : 'FAILED';
  const out = [`${what}: ${verdict}${r.stopped ? ` — stopped: ${r.stopped.message}` : ''}`];
  const rows = r.hosts.map((h) => [
    h.host,
    h.batch ?? '-',
    `${h.from ?? '?'} → ${h.to ?? '?'}`,
    h.result === 'failed' || (h.result === 'skipped' && h.code !== undefined) ? `${h.result} [${h.code ?? '?'}]` : h.result,
    h.durationMs === undefined ? '-' : seconds(h.durationMs),
  ]);
  out.push(...table(['HOST', 'BATCH', 'FROM → TO', 'RESULT', 'DURATION'], rows));
  const reasons = r.hosts.filter((h) => h.reason !== undefined && h.result !== 'ok');
  if (reasons.length > 0) {
    out.push('');
    for (const h of reasons) out.push(`  ${h.host}: ${h.reason ?? ''}`);
  }
  const counts = new Map<string, number>();
  for (const h of r.hosts) counts.set(h.result, (counts.get(h.result) ?? 0) + 1);
  out.push('', `  ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}`);
  return out.join('\n');
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => `  ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd();
  return [line(head), ...rows.map(line)];
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
