// Parent side of a callee app (servers/callback-echo-app.ts): forks it, waits until its callback
// stream is registered with the agent, and stops it by its pid (also from the cleanup stack). A
// stream that ends later is logged: the invoke rows would then show it as errors.
import { fork } from 'node:child_process';
import path from 'node:path';
import type { CalleeReply, CalleeStart } from '../servers/callback-echo-app.js';
import type { CleanupStack } from './cleanup-stack.js';
import { stopChild, waitForExit } from '../../test/support/child-process.js';
import { distRoot } from '../../test/support/repo-root.js';
import type { ServerUnderTest } from './usage-monitor.js';

export interface CalleeProcess extends ServerUnderTest {
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;

function isReply(value: unknown): value is CalleeReply {
  const type = (value as { type?: unknown } | null)?.type;
  return type === 'listening' || type === 'failed';
}

export async function startCallee(start: Omit<CalleeStart, 'type'>, label: string, cleanup: CleanupStack,
  log: (message: string) => void): Promise<CalleeProcess> {
  const child = fork(path.join(distRoot, 'bench', 'servers', 'callback-echo-app.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const stop = async (): Promise<void> => {
    if (child.connected) child.disconnect();
    if (!(await waitForExit(child, 3_000))) await stopChild(child, 5_000);
  };
  const unregister = cleanup.add(label, stop);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label}: callback stream not registered after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.once('exit', (code, signal) => reject(new Error(`${label} exited (${code ?? signal})`)));
      child.on('message', (message: unknown) => {
        if (!isReply(message)) return;
        clearTimeout(timer);
        if (message.type === 'listening') resolve();
        else {
          reject(new Error(`${label}: ${message.error}`));
          log(`${label}: ${message.error}`);
        }
      });
      child.send({ type: 'start', ...start } satisfies CalleeStart);
    });
  } catch (err) {
    await stop();
    unregister();
    throw err;
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${label} has no pid`);
  return {
    label,
    rootPid: pid,
    pids: () => [pid],
    workerPids: () => [pid],
    stop: async () => {
      unregister();
      await stop();
    },
  };
}
