// CPU and memory of a process tree from /proc (Linux): CPU from utime+stime deltas in
// /proc/<pid>/stat, memory as VmRSS from /proc/<pid>/status, summed over the tree.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcSample {
  /** Milliseconds, monotonic. */
  atMs: number;
  /** CPU ticks (utime + stime) per pid. */
  ticks: Map<number, number>;
  rssKb: Map<number, number>;
}

let clockTicks: number | undefined;

/** USER_HZ, the unit of /proc/<pid>/stat times (100 on every mainstream Linux). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface StatFields {
  ppid: number;
  ticks: number;
}

function readStat(pid: number): StatFields | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(ppid + utime + stime) ? { ppid, ticks: utime + stime } : null;
  } catch {
    return null;
  }
}

export function readRssKb(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? null : Number(match[1]);
  } catch {
    return null;
  }
}

/**
 * Proportional set size: RSS with each shared page (the node binary's text, shared libraries)
 * divided among the processes mapping it — what a worker really costs next to its siblings.
 */
export function readPssKb(pid: number): number | null {
  try {
    const match = /^Pss:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match?.[1] === undefined ? null : Number(match[1]);
  } catch {
    return null;
  }
}

/** Direct children of `pid` (one scan of /proc). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = Number(entry);
    if (readStat(child)?.ppid === pid) children.push(child);
  }
  return children;
}

/** `root` and its descendants (bounded depth: the agent tree is two levels). */
export function processTree(root: number, maxDepth = 3): number[] {
  const all = [root];
  let level = [root];
  for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
    level = level.flatMap(childPids);
    all.push(...level);
  }
  return all;
}

export function sampleProcesses(pids: number[], atMs: number): ProcSample {
  const ticks = new Map<number, number>();
  const rssKb = new Map<number, number>();
  for (const pid of pids) {
    const stat = readStat(pid);
    const rss = readRssKb(pid);
    if (stat !== null) ticks.set(pid, stat.ticks);
    if (rss !== null) rssKb.set(pid, rss);
  }
  return { atMs, ticks, rssKb };
}

/** CPU between two samples as % of one core, summed over the pids present in both. */
export function cpuPercent(before: ProcSample, after: ProcSample): number {
  const seconds = (after.atMs - before.atMs) / 1000;
  if (seconds <= 0) return 0;
  let ticks = 0;
  for (const [pid, end] of after.ticks) {
    const start = before.ticks.get(pid);
    if (start !== undefined) ticks += end - start;
  }
  return (ticks / clockTicksPerSecond() / seconds) * 100;
}

export function totalRssMb(sample: ProcSample): number {
  let kb = 0;
  for (const value of sample.rssKb.values()) kb += value;
  return kb / 1024;
}

/** CPU of one pid between two samples, % of one core (0 when absent from either). */
export function processCpuPercent(before: ProcSample, after: ProcSample, pid: number): number {
  const start = before.ticks.get(pid);
  const end = after.ticks.get(pid);
  const seconds = (after.atMs - before.atMs) / 1000;
  if (start === undefined || end === undefined || seconds <= 0) return 0;
  return ((end - start) / clockTicksPerSecond() / seconds) * 100;
}
