// Closed-loop load for maximum throughput: `concurrency` lanes, each sending its next request as
// soon as its previous one completes. Counts completions inside the measured window (after the
// warm-up); latency here is service time, reported for context only. Bounded by the window plus
// `drainTimeoutMs`.
import type { BenchClient } from '../clients/bench-client.js';
import { ErrorTally } from './error-codes.js';
import { LatencyRecorder } from './latency-recorder.js';
import type { ClosedLoopJob, LoadResult } from './load-protocol.js';
import { monoMs } from './mono-clock.js';

const MAX_ERROR_SAMPLES = 5;

export async function runClosedLoop(client: BenchClient, job: ClosedLoopJob,
  onPhase: (phase: 'measuring' | 'measured') => void): Promise<Omit<LoadResult, 'generatorCpuPercent'>> {
  const latency = new LatencyRecorder();
  const errorSamples: string[] = [];
  const errorCodes = new ErrorTally();
  const measureFrom = monoMs() + job.warmupMs;
  const measureTo = measureFrom + job.durationMs;
  let requests = 0;
  let errors = 0;
  let succeeded = 0;
  let lanesRunning = job.concurrency;
  let n = 0;

  let settle: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => {
    settle = resolve;
  });

  const emitted = new Set<'measuring' | 'measured'>();
  const phase = (p: 'measuring' | 'measured'): void => {
    if (emitted.has(p)) return;
    emitted.add(p);
    onPhase(p);
  };

  const lane = (): void => {
    const started = monoMs();
    if (started >= measureFrom) phase('measuring');
    if (started >= measureTo) {
      phase('measured');
      lanesRunning--;
      if (lanesRunning === 0) settle();
      return;
    }
    client.send(n++ % client.connections, (error) => {
      const ended = monoMs();
      if (started >= measureFrom && ended <= measureTo) {
        requests++;
        if (error === null) {
          succeeded++;
          latency.recordMs(ended - started);
        } else {
          errors++;
          errorCodes.add(error);
          if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push(error.message);
        }
      }
      // Completions of a fast server can be synchronous-adjacent; never recurse on the stack.
      setImmediate(lane);
    });
  };
  for (let i = 0; i < job.concurrency; i++) lane();

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, job.warmupMs + job.durationMs + job.drainTimeoutMs);
  });
  try {
    await Promise.race([allDone, deadline]);
  } finally {
    clearTimeout(timer);
  }
  phase('measuring');
  phase('measured');
  if (lanesRunning > 0) {
    errors += lanesRunning;
    errorSamples.push(`${lanesRunning} lanes still waiting ${job.drainTimeoutMs} ms after the window`);
  }
  return {
    requests,
    errors,
    achievedRate: succeeded / (job.durationMs / 1000),
    measuredMs: job.durationMs,
    latency: latency.summary(),
    sendLag: null,
    errorSamples,
    errorCodes: errorCodes.toJSON(),
  };
}
