// Summarises a V8 .cpuprofile (node --cpu-prof): self time by package/folder and the hottest
// functions, so the report can say what dominates an agent worker's CPU.
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  /** Share of the non-idle time. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  pid: number;
  role: string;
  /** Sampled time that was not idle, ms. */
  busyMs: number;
  byPackage: ProfileEntry[];
  topFunctions: ProfileEntry[];
}

function isCpuProfile(value: unknown): value is CpuProfile {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.startTime === 'number' && Array.isArray(v.nodes) && Array.isArray(v.samples) && Array.isArray(v.timeDeltas);
}

/** node_modules package, node core, a V8 pseudo-frame, or the repo's top-level folder. */
export function packageOf(frame: CallFrame, repoRoot: string): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node core';
  const file = url.replace(/^file:\/\//, '');
  const modules = file.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = file.slice(modules + '/node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : parts[0] ?? file;
  }
  const relative = path.relative(repoRoot, file).split(path.sep);
  return relative[0] === 'dist' ? `hearth ${relative.slice(1, 3).join('/')}` : relative.slice(0, 2).join('/');
}

function top(map: Map<string, number>, busyMs: number, n: number): ProfileEntry[] {
  return [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([name, ms]) => ({ name, ms, percent: busyMs > 0 ? (ms / busyMs) * 100 : 0 }));
}

export interface TimeWindow {
  /** Monotonic clock, ms (V8 profile timestamps are monotonic microseconds). */
  startMs: number;
  endMs: number;
}

/**
 * Self time of the samples inside `windows` (the measured windows of the rows; start-up and
 * warm-up are left out), or of every sample when `windows` is empty.
 */
export function summarizeCpuProfile(json: unknown, file: string, pid: number, role: string, repoRoot: string,
  windows: readonly TimeWindow[] = []): ProfileSummary {
  if (!isCpuProfile(json)) throw new Error(`${file} is not a V8 CPU profile`);
  const inWindow = (us: number): boolean => windows.length === 0
    || windows.some((w) => us >= w.startMs * 1000 && us <= w.endMs * 1000);
  let at = json.startTime;
  const nodes = new Map(json.nodes.map((node) => [node.id, node]));
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busyMs = 0;
  for (let i = 0; i < json.samples.length; i++) {
    const node = nodes.get(json.samples[i] ?? -1);
    const deltaUs = json.timeDeltas[i] ?? 0;
    at += deltaUs;
    const ms = deltaUs / 1000;
    if (node === undefined || node.callFrame.functionName === '(idle)' || !inWindow(at)) continue;
    busyMs += ms;
    const pkg = packageOf(node.callFrame, repoRoot);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
    const where = node.callFrame.url === '' ? '' : ` ${path.basename(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    const name = `${node.callFrame.functionName || '(anonymous)'}${where} [${pkg}]`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
  }
  return { file, pid, role, busyMs, byPackage: top(byPackage, busyMs, 12), topFunctions: top(byFunction, busyMs, 20) };
}
