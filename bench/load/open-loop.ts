// Open-loop load at a fixed rate, free of coordinated omission: request i is due at
// start + i/rate, its latency runs from that intended instant (so a stall in the server or the
// generator shows up as latency, not as fewer samples), and no request waits for another.
// Requests due during the warm-up are sent but not recorded. Bounded in count (rate × time) and
// in time (the schedule, then at most `drainTimeoutMs` for stragglers, which count as errors).
import type { BenchClient } from '../clients/bench-client.js';
import { ErrorTally } from './error-codes.js';
import { LatencyRecorder } from './latency-recorder.js';
import type { LoadResult, OpenLoopJob } from './load-protocol.js';
import { monoMs } from './mono-clock.js';
import { PreciseTicker } from './precise-ticker.js';

const MAX_ERROR_SAMPLES = 5;
/** Ticks no closer than this; above ~10,000 req/s several requests leave per tick. */
const MIN_TICK_MS = 0.1;

export async function runOpenLoop(client: BenchClient, job: OpenLoopJob,
  onPhase: (phase: 'measuring' | 'measured') => void): Promise<Omit<LoadResult, 'generatorCpuPercent'>> {
  const intervalMs = 1000 / job.rate;
  const total = Math.floor((job.rate * (job.warmupMs + job.durationMs)) / 1000);
  const firstMeasured = Math.floor((job.rate * job.warmupMs) / 1000);
  const latency = new LatencyRecorder();
  const sendLag = new LatencyRecorder();
  const errorSamples: string[] = [];
  const errorCodes = new ErrorTally();
  let errors = 0;
  let next = 0;
  let inFlight = 0;
  let measuredDone = 0;
  let succeeded = 0;
  let lastDoneMs = 0;
  let scheduleEnded = false;
  const startMs = monoMs() + 20;
  const endMs = startMs + total * intervalMs;

  let settle: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => {
    settle = resolve;
  });

  const issue = (i: number, now: number): void => {
    const intended = startMs + i * intervalMs;
    const measured = i >= firstMeasured;
    if (i === firstMeasured) onPhase('measuring');
    if (measured) sendLag.recordMs(now - intended);
    inFlight++;
    client.send(i % client.connections, (error) => {
      inFlight--;
      if (measured) {
        measuredDone++;
        if (error === null) {
          succeeded++;
          lastDoneMs = monoMs();
          latency.recordMs(lastDoneMs - intended);
        } else {
          errors++;
          errorCodes.add(error);
          if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push(error.message);
        }
      }
      if (next >= total && inFlight === 0) settle();
    });
  };

  const ticker = new PreciseTicker({
    startMs,
    intervalMs: Math.max(intervalMs, MIN_TICK_MS),
    ticks: Math.ceil((total * intervalMs) / Math.max(intervalMs, MIN_TICK_MS)) + 1,
    onTick: () => {
      const now = monoMs();
      while (next < total && startMs + next * intervalMs <= now) issue(next++, now);
      if (next >= total && !scheduleEnded) {
        scheduleEnded = true;
        onPhase('measured');
        void ticker.stop();
        if (inFlight === 0) settle();
      }
    },
  });

  // Time bound: the schedule plus the drain allowance, whatever the ticker or the server do.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.ceil(endMs - monoMs()) + job.drainTimeoutMs);
  });
  try {
    await Promise.race([allDone, deadline]);
  } finally {
    clearTimeout(timer);
    await ticker.stop();
  }
  const measuredRequests = total - firstMeasured;
  const unanswered = measuredRequests - measuredDone;
  if (unanswered > 0 || next < total) {
    errors += unanswered;
    errorSamples.push(`${unanswered} requests unanswered ${job.drainTimeoutMs} ms after the schedule ended (${next}/${total} sent)`);
  }
  return {
    requests: measuredRequests,
    errors,
    // Over the schedule's window, or longer when a backlog drained after it: a server that falls
    // behind shows a lower rate as well as a higher latency.
    achievedRate: succeeded / (Math.max(job.durationMs, lastDoneMs - (startMs + firstMeasured * intervalMs)) / 1000),
    measuredMs: job.durationMs,
    latency: latency.summary(),
    sendLag: sendLag.summary(),
    errorSamples,
    errorCodes: errorCodes.toJSON(),
  };
}
