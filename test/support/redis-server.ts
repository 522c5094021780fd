// A real `redis-server` (Debian package) per test file, on a free localhost port in a temp dir.
// Tests never skip when it is missing: they fail and say what to install (CI installs it).
// stop()/restart() keep the port, so clients can reconnect to "the same" server after an outage.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';
import { waitFor } from './wait.js';

const live = new Set<ChildProcess>();
// Never leave a redis-server behind, even when a test file fails or times out.
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export function requireBinary(bin: string, debPackage: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  const file = found.stdout.trim();
  if (found.status !== 0 || file === '') {
    throw new Error(`${bin} not found: install it (apt-get install -y ${debPackage}); .ci/run does`);
  }
  return file;
}

function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class RedisServer {
  readonly port: number;
  readonly dir: string;
  private proc: ChildProcess | undefined;
  private output = '';
  private extraArgs: readonly string[] = [];

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  /** Starts a fresh, empty, non-persistent server. `args` are extra redis-server options. */
  static async start(args: readonly string[] = []): Promise<RedisServer> {
    requireBinary('redis-server', 'redis-server');
    const server = new RedisServer(await freePort(), mkdtempSync(path.join(os.tmpdir(), 'hr-')));
    server.extraArgs = args;
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The running server's pid (for the bench's CPU and RSS sampling). */
  get pid(): number | undefined {
    return this.running ? this.proc?.pid : undefined;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private async launch(): Promise<void> {
    const proc = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    try {
      await waitFor(`redis-server to listen on ${this.port}`, () => accepts(this.port), { timeoutMs: 10_000, everyMs: 25 });
    } catch (err) {
      proc.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${this.output}`);
    }
  }

  /** Runs `redis-cli -p <port> …args` and returns its stdout (the cross-check client). */
  cli(...args: string[]): string {
    return this.redisCli('--no-raw', args);
  }

  /** Like cli() but with --raw output (values as they are, one per line). */
  cliRaw(...args: string[]): string {
    return this.redisCli('--raw', args);
  }

  private redisCli(mode: '--raw' | '--no-raw', args: readonly string[]): string {
    requireBinary('redis-cli', 'redis-server');
    const r = spawnSync('redis-cli', ['-p', String(this.port), mode, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** Kills the server (SIGKILL: an outage, not a shutdown) and waits for it to exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  }

  /** Starts the server again on the same port (empty: it does not persist). */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stops the server and removes its directory. Idempotent. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
