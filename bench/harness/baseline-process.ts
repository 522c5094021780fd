// Parent side of a baseline server: forks servers/baseline-server.js, waits for `listening`, and
// stops it by its pid (also from the cleanup stack if the run fails).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BaselineKind, BaselineReply } from '../servers/baseline-server.js';
import type { CleanupStack } from './cleanup-stack.js';
import { stopChild, waitForExit } from '../../test/support/child-process.js';
import { distRoot, repoRoot } from '../../test/support/repo-root.js';
import type { ServerUnderTest } from './usage-monitor.js';

export interface BaselineProcess extends ServerUnderTest {
  readonly kind: BaselineKind;
  readonly socketPath: string;
  stop(): Promise<void>;
}

export const ECHO_PROTO = path.join(repoRoot, 'bench', 'protos', 'echo.proto');
const START_TIMEOUT_MS = 15_000;

function isReply(value: unknown): value is BaselineReply {
  return typeof value === 'object' && value !== null && ((value as { type?: unknown }).type === 'listening'
    || (value as { type?: unknown }).type === 'failed');
}

const LABELS: Record<BaselineKind, string> = {
  'raw-echo': 'raw echo server',
  'grpc-echo': 'grpc-js echo server',
  'fastify-echo': 'fastify echo server',
};

export async function startBaseline(kind: BaselineKind, cleanup: CleanupStack): Promise<BaselineProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hb-'));
  const socketPath = path.join(dir, `${kind}.sock`);
  const child = fork(path.join(distRoot, 'bench', 'servers', 'baseline-server.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const stop = async (): Promise<void> => {
    // Disconnecting lets the server close and exit by itself (so `--cpu-prof` can write its
    // profile); SIGTERM, then SIGKILL, by pid if it does not.
    if (child.connected) child.disconnect();
    if (!(await waitForExit(child, 3_000))) await stopChild(child, 5_000);
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = cleanup.add(`${kind} server`, stop);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${kind} server not listening after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.once('exit', (code, signal) => reject(new Error(`${kind} server exited (${code ?? signal})`)));
      child.once('message', (message: unknown) => {
        clearTimeout(timer);
        if (isReply(message) && message.type === 'listening') resolve();
        else reject(new Error(`${kind} server failed: ${isReply(message) && message.type === 'failed' ? message.error : 'bad reply'}`));
      });
      child.send({ type: 'start', kind, socketPath, protoPath: ECHO_PROTO });
    });
  } catch (err) {
    await stop();
    unregister();
    throw err;
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${kind} server has no pid`);
  return {
    kind,
    socketPath,
    label: LABELS[kind],
    rootPid: pid,
    pids: () => [pid],
    workerPids: () => [pid],
    stop: async () => {
      unregister();
      await stop();
    },
  };
}
