// VmRSS of an agent's processes (the ops-agent and its direct children, the workers of every
// generation alive) every `periodMs`, kept per pid so a window can be split afterwards into the
// primary, the generation that was serving before a hand-off and the one that replaced it.
import { monoMs } from '../load/mono-clock.js';
import { childPids, readRssKb } from './proc-usage.js';

export interface RssSample {
  readonly atMs: number;
  readonly rssKb: ReadonlyMap<number, number>;
}

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

export class RssSampler {
  readonly #rootPid: number;
  readonly #periodMs: number;
  readonly #samples: RssSample[] = [];
  #timer: NodeJS.Timeout | undefined;

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
    const rssKb = new Map<number, number>();
    // Workers of every generation are direct children of the cluster primary: one /proc scan.
    for (const pid of [this.#rootPid, ...childPids(this.#rootPid)]) {
      const kb = readRssKb(pid);
      if (kb !== null) rssKb.set(pid, kb);
    }
    const s = { atMs: monoMs(), rssKb };
    this.#samples.push(s);
    return s;
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
