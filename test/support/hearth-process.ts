// Runs the real `hearth start` (dist/ops-agent/main.js) as a child process on a short temp dir,
// waits until admin.sock /readyz says 200, and always cleans up: every process group started
// here is SIGKILLed and its temp dir removed when the test (or bench) process exits, even after a
// failure. The bench starts its agents with this too (bench/harness/hearth-instance.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import type { StatusReport } from '../../ops-agent/status-report.js';
import { killGroup } from './child-process.js';
import { waitFor } from './wait.js';

/** dist/ops-agent/main.js of the build under test (this file runs from dist/test/support/). */
export const HEARTH_MAIN = fileURLToPath(new URL('../../ops-agent/main.js', import.meta.url));

export type StatusJson = StatusReport;
export type SocketKind = 'grpc' | 'http' | 'wire';

export interface StartHearthOptions {
  /** An object is merged over the test default (objects deep, arrays replaced); a string is written as is. */
  readonly config?: Record<string, unknown> | string;
  readonly workers?: number;
  readonly env?: Readonly<Record<string, string>>;
  /** Keep the temp dir after stop() (the test removes it). */
  readonly keepDir?: boolean;
  /** Bound on the wait for /readyz (default 60 s). */
  readonly readyTimeoutMs?: number;
  /**
   * What start waits for: `ready` (default) is /readyz 200; `serving` is workers answering status
   * with their components, ready or not (for a start while a backend is down).
   */
  readonly readyWhen?: 'ready' | 'serving';
  /** Node flags for the ops-agent; the cluster forwards them to the workers (e.g. --cpu-prof). */
  readonly execArgv?: readonly string[];
  /** How long stop() waits for the ops-agent after its signal before SIGKILLing the group (default 30 s). */
  readonly stopGraceMs?: number;
}

export interface HearthProcess {
  readonly dir: string;
  readonly runDir: string;
  readonly stateDir: string;
  readonly configPath: string;
  /** Pid of the current ops-agent process. */
  readonly pid: number;
  socket(appId: string, kind: SocketKind): string;
  admin(urlPath: string): Promise<{ status: number; body: string }>;
  status(): Promise<StatusJson>;
  /** Everything the process(es) wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal) once the current process has exited. */
  readonly exited: Promise<number | null>;
  /** Signals the ops-agent (SIGTERM by default), waits for its exit, then removes the temp dir unless keepDir. Idempotent. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL to the whole process group: ops-agent and workers die at once, files stay behind. */
  kill9(): Promise<void>;
  /** Stops the current process gracefully if it still runs, then starts again on the same dirs. */
  restart(): Promise<void>;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Apps demo/other and the embedded SQLite components, everything under the config file's dir. */
export function defaultTestConfig(workers = 2): Record<string, unknown> {
  return {
    version: 1,
    runDir: './run',
    stateDir: './data',
    workers,
    logLevel: 'info',
    apps: [
      { id: 'demo', token: 'demo-token' },
      { id: 'other', token: 'other-token' },
    ],
    components: [
      { name: 'default', type: 'state.sqlite' },
      { name: 'default', type: 'pubsub.sqlite' },
      { name: 'default', type: 'lock.sqlite' },
      { name: 'default', type: 'sequencer.sqlite' },
    ],
  };
}

/** The test default with `over` merged in, as startHearth builds it (for rewriting the file before a reload). */
export function testConfig(over: Record<string, unknown> = {}, workers?: number): Record<string, unknown> {
  return deepMerge(defaultTestConfig(workers), over);
}

export async function makeTempDir(): Promise<string> {
  // Short on purpose: socket paths must stay under ~107 bytes.
  return mkdtemp(path.join(os.tmpdir(), 'hx-'));
}

export async function startHearth(options: StartHearthOptions = {}): Promise<HearthProcess> {
  const dir = await makeTempDir();
  trackDir(dir, options.keepDir === true);
  const configPath = path.join(dir, 'hearth.yaml');
  const text =
    typeof options.config === 'string'
      ? options.config
      : toYaml(deepMerge(defaultTestConfig(options.workers), options.config ?? {}));
  await writeFile(configPath, text);
  const h = new RunningHearth(dir, configPath, options);
  await h.launch();
  return h;
}

/** Runs the CLI to completion (bounded); a process still running at the deadline is killed with its group. */
export async function runHearthCli(
  args: readonly string[],
  options: { env?: Readonly<Record<string, string>>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [HEARTH_MAIN, ...args], {
    cwd: options.cwd ?? os.tmpdir(),
    env: childEnv(options.env),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackGroup(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), options.timeoutMs ?? 30_000);
  // 'close', not 'exit': only then has everything the child wrote been read (under load the
  // output can still be in the pipes when 'exit' fires).
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  finishGroup(child);
  return { code, signal, stdout, stderr };
}

/** GET over a Unix socket; never throws on HTTP status. */
export function getUnix(socketPath: string, urlPath: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: urlPath, headers: { host: 'hearth' }, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} on ${socketPath}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

class RunningHearth implements HearthProcess {
  readonly dir: string;
  readonly runDir: string;
  readonly stateDir: string;
  readonly configPath: string;
  readonly #options: StartHearthOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  #output = '';
  #stopped: Promise<number | null> | undefined;

  constructor(dir: string, configPath: string, options: StartHearthOptions) {
    this.dir = dir;
    this.configPath = configPath;
    this.#options = options;
    // The default config and most overrides keep ./run and ./data; HEARTH_RUN_DIR wins like in the loader.
    this.runDir = path.resolve(dir, options.env?.HEARTH_RUN_DIR ?? 'run');
    this.stateDir = path.resolve(dir, options.env?.HEARTH_STATE_DIR ?? 'data');
  }

  get pid(): number {
    return this.#child?.pid ?? 0;
  }

  get exited(): Promise<number | null> {
    return this.#exited;
  }

  socket(appId: string, kind: SocketKind): string {
    return path.join(this.runDir, 'apps', appId, `${kind}.sock`);
  }

  admin(urlPath: string): Promise<{ status: number; body: string }> {
    return getUnix(path.join(this.runDir, 'admin.sock'), urlPath);
  }

  async status(): Promise<StatusJson> {
    const r = await this.admin('/v1/status');
    if (r.status !== 200) throw new Error(`/v1/status answered ${r.status}: ${r.body}`);
    return JSON.parse(r.body) as StatusJson;
  }

  output(): string {
    return this.#output;
  }

  async launch(): Promise<void> {
    const child = spawn(process.execPath, [...(this.#options.execArgv ?? []), HEARTH_MAIN, 'start', '--config', this.configPath], {
      cwd: this.dir,
      env: childEnv(this.#options.env),
      // Its own process group, so kill9() and the exit hook reach the workers too.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    trackGroup(child);
    this.#output += `--- hearth start (pid ${child.pid ?? '?'}) ---\n`;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => this.#append(d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => this.#append(d));
    this.#exited = exitOf(child).then(([code]) => code);

    let exitedEarly = false;
    void this.#exited.then(() => (exitedEarly = true));
    const timeoutMs = this.#options.readyTimeoutMs ?? 60_000;
    // A check that throws is "not listening yet"; an early exit ends the wait at once.
    const outcome = await waitFor('hearth start to be ready', async () => (exitedEarly ? 'exited' : (await this.#startedEnough()) && 'ready'), { timeoutMs }).catch(() => 'timeout');
    if (outcome === 'exited') {
      const code = await this.#exited;
      finishGroup(child);
      throw new Error(`hearth start exited with code ${code} before it was ready; output:\n${this.#output}`);
    }
    if (outcome === 'timeout') {
      killGroup(child, 'SIGKILL');
      await this.#exited;
      finishGroup(child);
      throw new Error(`hearth start was not ready within ${timeoutMs} ms; output:\n${this.#output}`);
    }
  }

  async #startedEnough(): Promise<boolean> {
    if ((this.#options.readyWhen ?? 'ready') === 'ready') return (await this.admin('/readyz')).status === 200;
    const r = await this.admin('/v1/status');
    if (r.status !== 200) return false;
    const s = JSON.parse(r.body) as StatusJson;
    return s.workers.length > 0 && s.components.length > 0;
  }

  #append(d: string): void {
    this.#output += d;
    // Bounded: keep the start (why it came up the way it did) and the recent tail.
    if (this.#output.length > 4_000_000) this.#output = `${this.#output.slice(0, 500_000)}\n[…]\n${this.#output.slice(-2_000_000)}`;
  }

  async #stopProcess(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.#child;
    if (!child) return null;
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), this.#options.stopGraceMs ?? 30_000);
    const code = await this.#exited;
    clearTimeout(timer);
    // Workers leave with the primary; anything left in the group is a straggler.
    finishGroup(child);
    return code;
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.#stopped ??= (async () => {
      const code = await this.#stopProcess(signal);
      if (!this.#options.keepDir) await rm(this.dir, { recursive: true, force: true });
      return code;
    })();
    return this.#stopped;
  }

  async kill9(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    killGroup(child, 'SIGKILL');
    await this.#exited;
    finishGroup(child);
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error('restart() after stop()');
    await this.#stopProcess('SIGTERM');
    await this.launch();
  }
}

/** The runner's environment with `extra`, without its own HEARTH_* settings (they would steer the child). */
export function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HEARTH_')) env[k] = v;
  return { ...env, ...extra };
}

function exitOf(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve([child.exitCode, child.signalCode]);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
}

// ---- cleanup that survives a failing test ----

const groups = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const child of groups) killGroup(child, 'SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

function trackGroup(child: ChildProcess): void {
  hook();
  groups.add(child);
}

function trackDir(dir: string, keep: boolean): void {
  hook();
  if (!keep) dirs.add(dir);
}

/** After the leader exited: kill what is left of its group, then forget it (its pgid may be reused later). */
function finishGroup(child: ChildProcess): void {
  killGroup(child, 'SIGKILL');
  groups.delete(child);
}


function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
