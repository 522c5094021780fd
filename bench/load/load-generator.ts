// Parent side of the load worker: forks load-worker.js for one job, relays its phases (the parent
// samples server CPU/RSS at them), returns its result, and makes sure the process is gone.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { CleanupStack } from '../harness/cleanup-stack.js';
import { stopChild, waitForExit } from '../../test/support/child-process.js';
import { distRoot } from '../../test/support/repo-root.js';
import {
  isWorkerMessage, type ClosedLoopJob, type HoldConnectionsJob, type HoldResult, type LoadResult, type OpenLoopJob,
  type WorkerMessage,
} from './load-protocol.js';

/** Setup (connecting, seeding keys) and IPC slack on top of a job's own time bounds. */
const SLACK_MS = 60_000;

type Phase = 'measuring' | 'measured' | 'holding';

function forkWorker(cleanup: CleanupStack): { child: ChildProcess; done: () => Promise<void> } {
  const child = fork(path.join(distRoot, 'bench', 'load-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const unregister = cleanup.add('load worker', () => stopChild(child, 3_000));
  return {
    child,
    done: async () => {
      // The worker disconnects and ends by itself; a worker that lingers is stopped by pid.
      if (!(await waitForExit(child, 5_000))) await stopChild(child, 3_000);
      unregister();
    },
  };
}

/** Receives messages until `settle` returns a value; rejects on failure, early exit or timeout. */
function converse<T>(child: ChildProcess, timeoutMs: number, settle: (message: WorkerMessage) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`load worker gave no result within ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null, signal: string | null): void => finish(new Error(`load worker exited (${code ?? signal}) before its result`));
    const onMessage = (message: unknown): void => {
      if (!isWorkerMessage(message)) return;
      if (message.type === 'failed') {
        finish(new Error(`load worker failed: ${message.error}`));
        return;
      }
      try {
        const value = settle(message);
        if (value !== undefined) finish(null, value);
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    };
    function finish(error: Error | null, value?: T): void {
      clearTimeout(timer);
      child.removeListener('message', onMessage);
      child.removeListener('exit', onExit);
      if (error !== null) reject(error);
      else resolve(value as T);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export async function runLoad(job: OpenLoopJob | ClosedLoopJob, cleanup: CleanupStack,
  onPhase: (phase: Phase) => void): Promise<LoadResult> {
  const { child, done } = forkWorker(cleanup);
  try {
    const result = converse<LoadResult>(child, job.warmupMs + job.durationMs + job.drainTimeoutMs + SLACK_MS, (message) => {
      if (message.type === 'phase') onPhase(message.phase);
      return message.type === 'load-result' ? message.result : undefined;
    });
    child.send({ type: 'job', job });
    return await result;
  } finally {
    await done();
  }
}

/** Opens and touches the connections, runs `whileHolding`, then releases them. */
export async function holdConnections<T>(job: HoldConnectionsJob, cleanup: CleanupStack,
  whileHolding: (hold: HoldResult) => Promise<T>): Promise<{ hold: HoldResult; value: T }> {
  const { child, done } = forkWorker(cleanup);
  try {
    const holding = converse<HoldResult>(child, job.openTimeoutMs * 2 + SLACK_MS,
      (message) => (message.type === 'hold-result' ? message.result : undefined));
    child.send({ type: 'job', job });
    const hold = await holding;
    try {
      return { hold, value: await whileHolding(hold) };
    } finally {
      if (child.connected) child.send({ type: 'release' });
    }
  } finally {
    await done();
  }
}
