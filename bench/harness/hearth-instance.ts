// A real Hearth for the benchmark: `node dist/ops-agent/main.js start --config <temp config>` in a
// short temp dir (sun_path ≤ 107 bytes), ready when <run>/admin.sock answers GET /readyz with 200.
// It runs in its own process group, so that the failover row can `kill -9` the ops-agent and its
// workers at once, as a host losing its agent would. Stopped by its own pid with SIGTERM (SIGKILL
// after a grace period), leftover workers by theirs.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { CleanupStack } from './cleanup-stack.js';
import { hasExited, killPidIfAlive, stopChild, waitForExit } from './child-stop.js';
import { childPids, processTree } from './proc-usage.js';
import { repoRoot } from './repo-root.js';
import type { ServerUnderTest } from './usage-monitor.js';

export interface HearthInstance extends ServerUnderTest {
  /** Sockets of the first app (`demo` unless `apps` says otherwise). */
  readonly grpcSocket: string;
  readonly httpSocket: string;
  readonly wireSocket: string;
  readonly adminSocket: string;
  readonly runDir: string;
  /** Token of the first app. */
  readonly token: string;
  readonly workers: number;
  /** `<run>/apps/<appId>/<kind>.sock` of any declared app. */
  socket(appId: string, kind: 'grpc' | 'http' | 'wire'): string;
  /** SIGKILL to the whole process group (ops-agent and workers at once); resolves once the ops-agent is gone. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** An app declared in the config (apps[] of hearth.yaml): id, token, and optional allow/quota. */
export interface HearthApp {
  id: string;
  token: string;
  allow?: Record<string, unknown>;
  quota?: Record<string, unknown>;
}

export const HEARTH_MAIN = path.join(repoRoot, 'dist', 'ops-agent', 'main.js');
const DEFAULT_APPS: readonly HearthApp[] = [{ id: 'demo', token: 'demo-token' }];
const READY_TIMEOUT_MS = 60_000;
const OUTPUT_TAIL_LINES = 40;

/** A component declared in the config, as in the `components:` list of hearth.yaml. */
export interface HearthComponent {
  name: string;
  type: string;
  metadata?: Record<string, unknown>;
}

const SQLITE_DEFAULTS: readonly HearthComponent[] = ['state', 'pubsub', 'lock', 'sequencer']
  .map((block) => ({ name: 'default', type: `${block}.sqlite` }));

function configYaml(runDir: string, stateDir: string, workers: number, options: HearthOptions): string {
  // JSON is YAML: values keep their types and need no quoting rules of their own.
  return `${JSON.stringify({
    version: 1,
    runDir,
    stateDir,
    workers,
    logLevel: 'warn',
    ...options.settings,
    apps: options.apps ?? DEFAULT_APPS,
    components: [...SQLITE_DEFAULTS, ...(options.components ?? [])],
  }, null, 2)}\n`;
}

function getStatus(socketPath: string, urlPath: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: urlPath, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Is `pid` still one of our agent processes (guards against pid reuse before a kill)? */
function isHearthProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(path.join('dist', 'ops-agent'));
  } catch {
    return false;
  }
}

export interface HearthOptions {
  workers?: number;
  /** Node flags for the ops-agent; the cluster forwards them to the workers (e.g. --cpu-prof). */
  execArgv?: string[];
  /** Components declared after the SQLite defaults (all named `default`), e.g. a Redis state store. */
  components?: readonly HearthComponent[];
  /** The apps (default: `demo`); the first one names grpcSocket, httpSocket, wireSocket and token. */
  apps?: readonly HearthApp[];
  /** More top-level settings (`siblings`, `invoke`, `limits`, …), as in hearth.yaml. */
  settings?: Record<string, unknown>;
  /** Shown in the CPU/RSS columns (default `ops-agent + N workers`). */
  label?: string;
}

export async function startHearth(cleanup: CleanupStack, options: HearthOptions = {}): Promise<HearthInstance> {
  const workers = options.workers ?? 2;
  if (!existsSync(HEARTH_MAIN)) throw new Error(`${HEARTH_MAIN} does not exist (build first)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hb-'));
  const runDir = path.join(dir, 'run');
  const configPath = path.join(dir, 'hearth.yaml');
  const apps = options.apps ?? DEFAULT_APPS;
  const first = apps[0];
  if (first === undefined) throw new Error('a Hearth needs at least one app');
  writeFileSync(configPath, configYaml(runDir, path.join(dir, 'state'), workers, options));
  const child = spawn(process.execPath, [...(options.execArgv ?? []), HEARTH_MAIN, 'start', '--config', configPath], {
    cwd: dir,
    // Its own process group: kill9() reaches every process of this agent and nothing else.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const keep = (chunk: Buffer): void => {
    tail.push(...chunk.toString('utf8').split('\n').filter((line) => line.length > 0));
    tail.splice(0, Math.max(0, tail.length - OUTPUT_TAIL_LINES));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const pid = child.pid;
  let knownWorkers: number[] = [];
  const stop = async (): Promise<void> => {
    await stopChild(child, 15_000);
    for (const worker of knownWorkers) if (isHearthProcess(worker)) killPidIfAlive(worker, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = cleanup.add('hearth', stop);
  const adminSocket = path.join(runDir, 'admin.sock');
  const socket = (appId: string, kind: 'grpc' | 'http' | 'wire'): string => path.join(runDir, 'apps', appId, `${kind}.sock`);
  try {
    if (pid === undefined) throw new Error('hearth did not spawn');
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (hasExited(child)) throw new Error(`hearth exited (${child.exitCode ?? child.signalCode}) before ready`);
      if (existsSync(adminSocket) && (await getStatus(adminSocket, '/readyz', 1_000)) === 200) break;
      if (Date.now() > deadline) throw new Error(`hearth not ready after ${READY_TIMEOUT_MS} ms`);
      await sleep(100);
    }
    knownWorkers = childPids(pid);
  } catch (err) {
    await stop();
    unregister();
    const output = tail.length > 0 ? `\n--- hearth output (last lines) ---\n${tail.join('\n')}` : '';
    throw new Error(`${err instanceof Error ? err.message : String(err)}${output}`);
  }
  return {
    label: options.label ?? `ops-agent + ${workers} workers`,
    rootPid: pid,
    grpcSocket: socket(first.id, 'grpc'),
    httpSocket: socket(first.id, 'http'),
    wireSocket: socket(first.id, 'wire'),
    adminSocket,
    runDir,
    token: first.token,
    workers,
    socket,
    kill9: async () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // ESRCH: the group is gone already
      }
      await waitForExit(child, 5_000);
    },
    pids: () => processTree(pid),
    workerPids: () => {
      knownWorkers = childPids(pid);
      return knownWorkers;
    },
    stop: async () => {
      unregister();
      await stop();
    },
  };
}
