// The load generator process (forked by load/load-generator.ts): receives one job over IPC, runs
// it against its target, reports phases and the result, closes its connections and disconnects,
// which lets the process end. Keeping load in its own process keeps the generator's CPU out of
// the parent's measurements and the parent's work out of the generator's timing.
import { createClient } from './clients/create-client.js';
import type { BenchClient } from './clients/bench-client.js';
import { runClosedLoop } from './load/closed-loop.js';
import { holdUntil, openAndTouch } from './load/hold-connections.js';
import { isParentMessage, type LoadJob, type WorkerMessage } from './load/load-protocol.js';
import { monoMs } from './load/mono-clock.js';
import { runOpenLoop } from './load/open-loop.js';

let client: BenchClient | null = null;
let releaseHold: () => void = () => undefined;
const released = new Promise<void>((resolve) => {
  releaseHold = resolve;
});

function send(message: WorkerMessage): void {
  // The callback keeps a parent that already left (EPIPE) from becoming an uncaught error.
  if (process.connected) process.send?.(message, undefined, undefined, () => undefined);
}

async function runJob(job: LoadJob): Promise<void> {
  const connections = job.type === 'closed-loop' ? job.concurrency : job.connections;
  client = await createClient(job.target, connections);
  // The generator's own CPU over the measured window, beside the server's (sampled by the parent).
  let cpuStart = process.cpuUsage();
  let cpuAtMs = monoMs();
  let generatorCpuPercent = 0;
  const onPhase = (phase: 'measuring' | 'measured'): void => {
    if (phase === 'measuring') {
      cpuStart = process.cpuUsage();
      cpuAtMs = monoMs();
    } else {
      const used = process.cpuUsage(cpuStart);
      generatorCpuPercent = ((used.user + used.system) / 1000 / Math.max(monoMs() - cpuAtMs, 1)) * 100;
    }
    send({ type: 'phase', phase });
  };
  switch (job.type) {
    case 'open-loop': {
      const result = await runOpenLoop(client, job, onPhase);
      send({ type: 'load-result', result: { ...result, generatorCpuPercent } });
      break;
    }
    case 'closed-loop': {
      const result = await runClosedLoop(client, job, onPhase);
      send({ type: 'load-result', result: { ...result, generatorCpuPercent } });
      break;
    }
    case 'hold-connections':
      send({ type: 'hold-result', result: await openAndTouch(client, job) });
      send({ type: 'phase', phase: 'holding' });
      await holdUntil(released, job.holdTimeoutMs);
      break;
  }
}

async function finish(): Promise<void> {
  const c = client;
  client = null;
  await c?.close();
  if (process.connected) process.disconnect();
}

process.on('message', (message: unknown) => {
  if (!isParentMessage(message)) return;
  if (message.type === 'release') {
    releaseHold();
    return;
  }
  runJob(message.job)
    .catch((err: unknown) => send({ type: 'failed', error: err instanceof Error ? err.stack ?? err.message : String(err) }))
    .finally(() => void finish());
});

// The parent went away: stop holding, close connections; the loops end at their own deadlines.
process.on('disconnect', () => {
  releaseHold();
  void client?.close();
});
