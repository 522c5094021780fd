// Samples a server's process tree over one measured window: CPU from the first and last sample,
// RSS at the end and its peak (sampled every `periodMs` in between).
import { monoMs } from '../load/mono-clock.js';
import { cpuPercent, processCpuPercent, sampleProcesses, totalRssMb, type ProcSample } from './proc-usage.js';

export interface ServerUnderTest {
  /** What the CPU/RSS columns cover, e.g. "ops-agent + 2 workers". */
  readonly label: string;
  readonly rootPid: number;
  /** The current process tree (workers may be replaced after a crash). */
  pids(): number[];
  /** The processes that serve requests (the agent workers; the server itself for a baseline). */
  workerPids(): number[];
}

export interface UsageResult {
  label: string;
  cpuPercent: number;
  rssMb: number;
  peakRssMb: number;
  processes: { pid: number; rssMb: number; cpuPercent: number }[];
  /** The measured windows on the monotonic clock (ms), also the clock of V8 CPU profiles. */
  windows: { startMs: number; endMs: number }[];
}

export class UsageMonitor {
  readonly #server: ServerUnderTest;
  readonly #periodMs: number;
  #first: ProcSample | null = null;
  #peakRssMb = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(server: ServerUnderTest, periodMs = 250) {
    this.#server = server;
    this.#periodMs = periodMs;
  }

  begin(): void {
    this.#first = this.#sample();
    this.#timer = setInterval(() => void this.#sample(), this.#periodMs);
    this.#timer.unref();
  }

  /** Ends the window; begin() must have been called (otherwise the window is empty). */
  end(): UsageResult {
    clearInterval(this.#timer);
    const last = this.#sample();
    const first = this.#first ?? last;
    return {
      label: this.#server.label,
      cpuPercent: cpuPercent(first, last),
      rssMb: totalRssMb(last),
      peakRssMb: this.#peakRssMb,
      processes: [...last.rssKb.entries()].map(([pid, kb]) => ({ pid, rssMb: kb / 1024, cpuPercent: processCpuPercent(first, last, pid) })),
      windows: [{ startMs: first.atMs, endMs: last.atMs }],
    };
  }

  #sample(): ProcSample {
    const sample = sampleProcesses(this.#server.pids(), monoMs());
    this.#peakRssMb = Math.max(this.#peakRssMb, totalRssMb(sample));
    return sample;
  }
}
