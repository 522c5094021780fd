// What the report states about the machine and the tree it measured.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { MachineInfo } from '../report/report-types.js';
import { repoRoot } from '../../test/support/repo-root.js';

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineInfo(now: Date): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    ramGb: os.totalmem() / 1024 ** 3,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    commit: git(['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: git(['status', '--porcelain', '--untracked-files=no']).length > 0,
    date: now.toISOString().slice(0, 10),
    loadAverageStart: os.loadavg(),
    loadAverageEnd: [],
  };
}
