// A real Hearth for the benchmark, started and stopped by the tests' own helper
// (test/support/hearth-process.ts: `hearth start` in a short temp dir, ready when admin.sock
// answers GET /readyz with 200, in its own process group so that the failover row can `kill -9`
// the ops-agent and its workers at once, as a host losing its agent would). Here: the bench's
// configuration, the cleanup stack, and the processes the CPU/RSS columns sample.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { HEARTH_MAIN, startHearth as startHearthProcess, type SocketKind } from '../../test/support/hearth-process.js';
import type { CleanupStack } from './cleanup-stack.js';
import { childPids, processTree } from './proc-usage.js';
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
  socket(appId: string, kind: SocketKind): string;
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
  /** apps[].channel: where its invocations are delivered (its own server). */
  channel?: Record<string, unknown>;
}

const DEFAULT_APPS: readonly HearthApp[] = [{ id: 'demo', token: 'demo-token' }];
/** How long stop() lets the agent drain before SIGKILLing its process group. */
const STOP_GRACE_MS = 15_000;

/** A component declared in the config, as in the `components:` list of hearth.yaml. */
export interface HearthComponent {
  name: string;
  type: string;
  metadata?: Record<string, unknown>;
}

const SQLITE_DEFAULTS: readonly HearthComponent[] = ['state', 'pubsub', 'lock', 'sequencer']
  .map((block) => ({ name: 'default', type: `${block}.sqlite` }));

function configYaml(workers: number, options: HearthOptions): string {
  // JSON is YAML: values keep their types and need no quoting rules of their own. The dirs are
  // relative to the config file, in the temp dir startHearth made.
  return `${JSON.stringify({
    version: 1,
    runDir: './run',
    stateDir: './data',
    workers,
    logLevel: 'warn',
    ...options.settings,
    apps: options.apps ?? DEFAULT_APPS,
    components: [...SQLITE_DEFAULTS, ...(options.components ?? [])],
  }, null, 2)}\n`;
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
  const apps = options.apps ?? DEFAULT_APPS;
  const first = apps[0];
  if (first === undefined) throw new Error('a Hearth needs at least one app');
  const h = await startHearthProcess({ config: configYaml(workers, options), execArgv: options.execArgv ?? [], stopGraceMs: STOP_GRACE_MS });
  const stop = async (): Promise<void> => {
    await h.stop();
  };
  const unregister = cleanup.add('hearth', stop);
  const pid = h.pid;
  const socket = (appId: string, kind: SocketKind): string => h.socket(appId, kind);
  return {
    label: options.label ?? `ops-agent + ${workers} workers`,
    rootPid: pid,
    grpcSocket: socket(first.id, 'grpc'),
    httpSocket: socket(first.id, 'http'),
    wireSocket: socket(first.id, 'wire'),
    adminSocket: path.join(h.runDir, 'admin.sock'),
    runDir: h.runDir,
    token: first.token,
    workers,
    socket,
    kill9: () => h.kill9(),
    pids: () => processTree(pid),
    workerPids: () => childPids(pid),
    stop: async () => {
      unregister();
      await stop();
    },
  };
}
