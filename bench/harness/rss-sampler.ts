// VmRSS and CPU ticks of an agent's processes (the ops-agent and its direct children, the workers
// of every generation alive) every `periodMs`, kept per pid so a window can be split afterwards
// into the primary, the generation that was serving before a hand-off and the one that replaced
// it — and so CPU counts workers that came and went in between, which a first/last comparison
// of the process tree misses.
import { monoMs } from '../load/mono-clock.js';
import { childPids, clockTicksPerSecond, sampleProcesses, type ProcSample } from './proc-usage.js';

export type RssSample = ProcSample;

export interface RssPeak {
  readonly atMs: number;
  readonly totalMb: number;
  readonly primaryMb: number;
  /** Workers that were alive when the window began (the old generation). */
  readonly oldMb: number;
  /** Workers that appeared during the window (the new generation). */
  readonly newMb: number;
  readonly processes: number;
}

const mb = (kb: number): number => kb / 1024;
/** A new worker's memory grows over seconds: finding it within this is soon enough. */
const RESCAN_MS = 200;

export class RssSampler {
  readonly #rootPid: number;
  readonly #periodMs: number;
  readonly #samples: RssSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #children: number[] = [];
  #scannedAt = -Infinity;

  constructor(rootPid: number, periodMs = 50) {
    this.#rootPid = rootPid;
    this.#periodMs = periodMs;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.#periodMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  sample(): RssSample {
    // Workers of every generation are direct children of the cluster primary. Finding them scans
    // all of /proc, so it is done every RESCAN_MS; the known pids are read at every sample.
    const now = monoMs();
    if (now - this.#scannedAt >= RESCAN_MS) {
      this.#children = childPids(this.#rootPid);
      this.#scannedAt = now;
    }
    const s = sampleProcesses([this.#rootPid, ...this.#children], now);
    this.#samples.push(s);
    return s;
  }

  /**
   * CPU over a window, % of one core: per pid, its last ticks minus its first in the window (a
   * worker forked during the window counts from zero; one that exited counts up to its last sample).
   */
  cpuPercent(fromMs: number, toMs: number): number {
    const window = this.between(fromMs, toMs);
    const first = window[0];
    const last = window.at(-1);
    if (first === undefined || last === undefined || last.atMs <= first.atMs) return 0;
    const start = new Map<number, number>();
    const end = new Map<number, number>();
    for (const s of window) {
      for (const [pid, ticks] of s.ticks) {
        if (!start.has(pid)) start.set(pid, s === first ? ticks : 0);
        end.set(pid, ticks);
      }
    }
    let ticks = 0;
    for (const [pid, t] of end) ticks += t - (start.get(pid) ?? 0);
    return (ticks / clockTicksPerSecond() / ((last.atMs - first.atMs) / 1000)) * 100;
  }

  /** Samples taken in [fromMs, toMs]. */
  between(fromMs: number, toMs: number): RssSample[] {
    return this.#samples.filter((s) => s.atMs >= fromMs && s.atMs <= toMs);
  }

  /** Mean total RSS over a window, MB. */
  meanMb(fromMs: number, toMs: number): number {
    const window = this.between(fromMs, toMs);
    if (window.length === 0) return 0;
    return window.reduce((sum, s) => sum + mb(total(s)), 0) / window.length;
  }

  /** The sample with the highest total RSS in a window, split by primary / old / new workers. */
  peak(fromMs: number, toMs: number): RssPeak | null {
    const window = this.between(fromMs, toMs);
    const first = window[0];
    if (first === undefined) return null;
    const old = new Set([...first.rssKb.keys()].filter((pid) => pid !== this.#rootPid));
    let best = first;
    for (const s of window) if (total(s) > total(best)) best = s;
    let primary = 0;
    let oldKb = 0;
    let newKb = 0;
    for (const [pid, kb] of best.rssKb) {
      if (pid === this.#rootPid) primary += kb;
      else if (old.has(pid)) oldKb += kb;
      else newKb += kb;
    }
    return { atMs: best.atMs, totalMb: mb(total(best)), primaryMb: mb(primary), oldMb: mb(oldKb), newMb: mb(newKb), processes: best.rssKb.size };
  }
}

function total(s: RssSample): number {
  let kb = 0;
  for (const v of s.rssKb.values()) kb += v;
  return kb;
}
