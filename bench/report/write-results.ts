// Writes bench/results/<YYYY-MM-DD>-<commit>[-quick|-partial|-profile].md and .json (the JSON is
// gitignored; the markdown of the latest full run is committed).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../test/support/repo-root.js';
import { renderMarkdown } from './markdown-report.js';
import type { BenchReport } from './report-types.js';

export function resultBaseName(report: BenchReport): string {
  const kind = report.settings.profile ? '-profile' : report.settings.quick ? '-quick' : report.settings.only !== null ? '-partial' : '';
  return `${report.machine.date}-${report.machine.commit}${kind}`;
}

export function writeResults(report: BenchReport, dir = path.join(repoRoot, 'bench', 'results')): { md: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const base = path.join(dir, resultBaseName(report));
  const md = `${base}.md`;
  const json = `${base}.json`;
  writeFileSync(md, renderMarkdown(report));
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  return { md, json };
}
