// Parent side of a baseline server: forks servers/baseline-server.js, waits for `listening`, and
// stops it by its pid (also from the cleanup stack if the run fails). forkServer() is the same for
// any forked server entry (the Node relay's processes too).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BaselineKind, BaselineStart } from '../servers/baseline-server.js';
import type { ServerReply } from '../servers/serve-forked.js';
import type { CleanupStack } from './cleanup-stack.js';
import { stopChild, waitForExit } from '../../test/support/child-process.js';
import { distRoot, repoRoot } from '../../test/support/repo-root.js';
import type { ServerUnderTest } from './usage-monitor.js';

export interface ForkedServer extends ServerUnderTest {
  stop(): Promise<void>;
}

export interface BaselineProcess extends ForkedServer {
  readonly kind: BaselineKind;
  readonly socketPath: string;
}

export const ECHO_PROTO = path.join(repoRoot, 'bench', 'protos', 'echo.proto');
const START_TIMEOUT_MS = 15_000;

function isReply(value: unknown): value is ServerReply {
  return typeof value === 'object' && value !== null && ((value as { type?: unknown }).type === 'listening'
    || (value as { type?: unknown }).type === 'failed');
}

const LABELS: Record<BaselineKind, string> = {
  'raw-echo': 'raw echo server',
  'grpc-echo': 'grpc-js echo server',
  'fastify-echo': 'fastify echo server',
  'http-echo': 'node:http echo server',
  'frame-echo': 'frame echo server',
};

/**
 * Forks `entry` (a file of dist/bench/servers/, see servers/serve-forked.ts), sends it `start`, and
 * resolves once it answers `listening`. `afterStop` runs once the process is gone (temp dirs).
 */
export async function forkServer(entry: string, start: object, label: string, cleanup: CleanupStack,
  afterStop: () => void = () => undefined): Promise<ForkedServer> {
  const child = fork(path.join(distRoot, 'bench', 'servers', entry), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const stop = async (): Promise<void> => {
    // Disconnecting lets the server close and exit by itself (so `--cpu-prof` can write its
    // profile); SIGTERM, then SIGKILL, by pid if it does not.
    if (child.connected) child.disconnect();
    if (!(await waitForExit(child, 3_000))) await stopChild(child, 5_000);
    afterStop();
  };
  const unregister = cleanup.add(label, stop);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label} not listening after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.once('exit', (code, signal) => reject(new Error(`${label} exited (${code ?? signal})`)));
      child.once('message', (message: unknown) => {
        clearTimeout(timer);
        if (isReply(message) && message.type === 'listening') resolve();
        else reject(new Error(`${label} failed: ${isReply(message) && message.type === 'failed' ? message.error : 'bad reply'}`));
      });
      child.send(start);
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

export async function startBaseline(kind: BaselineKind, cleanup: CleanupStack): Promise<BaselineProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hb-'));
  const socketPath = path.join(dir, `${kind}.sock`);
  const start: BaselineStart = { type: 'start', kind, socketPath, protoPath: ECHO_PROTO };
  const server = await forkServer('baseline-server.js', start, LABELS[kind], cleanup,
    () => rmSync(dir, { recursive: true, force: true }));
  return { ...server, kind, socketPath };
}
