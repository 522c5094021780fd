// librdkafka's mock cluster (Debian librdkafka-dev) as a real Kafka wire-protocol broker for tests.
// The small C program in test/fixtures/kafka-mock/ is compiled with the system compiler on first
// use (cached by the hash of its source; several ava workers may race to build it, so each builds
// to a temp name and renames). Tests never skip when the library is missing: they fail and say
// what to install (CI installs it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './repo-root.js';

const SOURCE = path.join(repoRoot, 'test', 'fixtures', 'kafka-mock', 'kafka-mock.c');

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Compiles the mock broker once per source version; returns the binary's path. */
export function buildKafkaMock(): string {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), 'hearth-kafka-mock');
  const binary = path.join(dir, `kafka-mock-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  const cc = spawnSync('cc', ['-O1', '-o', tmp, SOURCE, '-lrdkafka'], { encoding: 'utf8' });
  if (cc.status !== 0) {
    throw new Error(
      `cannot build the Kafka mock broker (${cc.error?.message ?? cc.stderr.trim()}): install a C compiler and librdkafka ` +
        '(apt-get install -y build-essential librdkafka-dev); .ci/run does',
    );
  }
  renameSync(tmp, binary);
  return binary;
}

export class KafkaMock {
  readonly bootstrap: string;
  private readonly proc: ChildProcess;
  private readonly replies: string[] = [];
  private waiter: (() => void) | undefined;

  private constructor(proc: ChildProcess, bootstrap: string, lines: AsyncIterator<string>) {
    this.proc = proc;
    this.bootstrap = bootstrap;
    void (async () => {
      for (;;) {
        const next = await lines.next();
        if (next.done) break;
        this.replies.push(next.value);
        this.waiter?.();
      }
    })();
  }

  /** Starts a mock cluster with `brokers` brokers (ids 1..n). */
  static async start(brokers = 1): Promise<KafkaMock> {
    const binary = buildKafkaMock();
    const proc = spawn(binary, [String(brokers)], { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
    const first = await Promise.race([
      lines.next(),
      new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`kafka mock exited (${code}): ${stderr}`)))),
    ]);
    const m = /^bootstrap (\S+)$/.exec(first.done ? '' : first.value);
    if (!m?.[1]) {
      proc.kill('SIGKILL');
      throw new Error(`kafka mock did not print its bootstrap address: ${stderr}`);
    }
    return new KafkaMock(proc, m[1], lines);
  }

  /** The mock cluster's pid (for the bench's CPU and RSS sampling). */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** The brokers as a list, for kafkajs `brokers`. */
  get brokers(): string[] {
    return this.bootstrap.split(',');
  }

  private async command(line: string): Promise<void> {
    if (this.proc.exitCode !== null) throw new Error('kafka mock is not running');
    this.proc.stdin?.write(`${line}\n`);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = this.replies.findIndex((r) => r.endsWith(` ${line}`) || r.startsWith(`error ${line}`) || r.startsWith('error unknown'));
      if (i >= 0) {
        const [reply = ''] = this.replies.splice(i, 1);
        if (!reply.startsWith('ok ')) throw new Error(`kafka mock: ${reply}`);
        return;
      }
      if (Date.now() > deadline) throw new Error(`kafka mock did not answer "${line}"`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 100).unref();
      });
    }
  }

  /** Creates a topic (the mock has no CreateTopics API; kafkajs admin cannot reach its controller). */
  createTopic(name: string, partitions = 1): Promise<void> {
    return this.command(`topic ${name} ${partitions}`);
  }

  /** Every broker drops its connections and refuses new ones (an outage), until up(). */
  down(): Promise<void> {
    return this.command('down');
  }

  up(): Promise<void> {
    return this.command('up');
  }

  /** Delays every broker response by ms (a slow broker); 0 restores. */
  rtt(ms: number): Promise<void> {
    return this.command(`rtt ${ms}`);
  }

  /** Stops the cluster (closing stdin ends it; SIGKILL if it lingers). Idempotent. */
  async close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.stdin?.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}
