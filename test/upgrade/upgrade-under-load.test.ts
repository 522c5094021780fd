// The headline acceptance test of the hot upgrade (issue #3): two real artifacts built by the
// packaging script, a real `hearth start` with 2 workers, and while clients hammer the demo app —
// gRPC unary calls on one long-lived channel, HTTP keep-alive, a new connection per request (HTTP
// and gRPC), slow HTTP pulls — five consecutive upgrades a → b → a → b → a through the real CLI.
// Every request must succeed, the socket inodes never change, every generation serves, the old
// generation's workers are gone after each upgrade. Then a subscription across two more upgrades
// loses no message. Figures are printed (t.log); nothing is asserted on timing.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { callError, createGrpcClients, type GrpcClients, type Msg, type SubscribeResponse } from '../helpers/grpc-client.js';
import { childEnv, HEARTH_MAIN, startHearth, type HearthProcess } from '../support/hearth-process.js';
import { alive, pidsOf, socketInodes } from '../helpers/upgrade-helpers.js';
import { CLIENT_KINDS, describe, UpgradeLoad } from '../helpers/upgrade-load.js';
import { sleep, waitFor } from '../support/wait.js';

const PACKAGE_SCRIPT = fileURLToPath(new URL('../../scripts/package-artifact.js', import.meta.url));
const A = '1.0.0-a';
const B = '1.0.0-b';
const APPS = ['demo', 'other'];

interface Artifact {
  readonly file: string;
  readonly sha256: string;
}

let h: HearthProcess | undefined;
let artifactDir: string | undefined;
const artifacts = new Map<string, Artifact>();
/** CLI processes still running (killed by pid in teardown). */
const running = new Set<ChildProcess>();
let current = '';

test.before(async () => {
  artifactDir = await mkdtemp(path.join(os.tmpdir(), 'hxa-'));
  for (const version of [A, B]) artifacts.set(version, await packageArtifact(version, artifactDir));
  h = await startHearth({ workers: 2, config: { upgrade: { allowedFileDirs: [artifactDir] } } });
  current = (await h.status()).activeVersion;
});

test.after.always(async () => {
  for (const child of running) killChild(child);
  await h?.stop();
  if (artifactDir !== undefined) await rm(artifactDir, { recursive: true, force: true });
});

test.serial('five consecutive upgrades a → b → a → b → a under load: no request fails, same sockets, every generation serves', async (t) => {
  t.timeout(300_000);
  const hearth = started();
  const first = await hearth.status();
  t.is(first.generation, 1);
  const inodes = await socketInodes(hearth, APPS);
  const load = new UpgradeLoad({
    grpcSocket: hearth.socket('demo', 'grpc'),
    httpSocket: hearth.socket('demo', 'http'),
    token: 'demo-token',
    maxMs: 270_000,
    maxIterations: 1_000_000,
    requestTimeoutMs: 40_000,
    slowPullWaitMs: 3_000,
  });
  t.teardown(() => load.stop());
  load.start();
  await waitUntilServed(load, 1);

  const handoffs: string[] = [];
  const drainStarts: number[] = [];
  const sequence = [A, B, A, B, A];
  for (const [i, version] of sequence.entries()) {
    const before = await hearth.status();
    const label = `upgrade ${i + 1} → ${version}`;
    const run = await upgradeCli(hearth, version, (phase) => (load.phase = `${label}: ${phase}`));
    load.phase = `after ${label}`;
    t.is(run.code, 0, `${label}: exit ${String(run.code)}\n${run.stdout}\n${run.stderr}`);
    t.regex(run.stdout, new RegExp(`upgrade ok: ${escape(before.activeVersion)} → ${escape(version)}`));

    const after = await hearth.status();
    const generation = before.generation + 1;
    t.is(after.pid, first.pid, 'the same ops-agent throughout');
    t.is(after.generation, generation);
    t.is(after.activeVersion, version);
    t.deepEqual(after.workers.map((w) => [w.generation, w.version, w.state]), [[generation, version, 'ready'], [generation, version, 'ready']], `${label}: only the new generation is left`);
    for (const pid of pidsOf(before)) t.false(alive(pid), `${label}: old worker ${pid} exited`);
    t.deepEqual(await socketInodes(hearth, APPS), inodes, `${label}: no socket was re-bound`);
    const last = after.upgrade.lastResult;
    t.is(last?.result, 'ok');
    handoffs.push(`${label}: hand-off (ready → old exited) ${String(last?.handoffMs)} ms; phases ${JSON.stringify(last?.phases)}`);
    const drainAt = run.phaseAt.get('drain');
    if (drainAt !== undefined) {
      drainStarts.push(drainAt);
      t.true(load.slowPulls.some((p) => p.start < drainAt && p.end > drainAt), `${label}: a slow pull was in flight when the drain began`);
    } else {
      t.fail(`${label}: the CLI printed no [drain] phase`);
    }
    current = version;
    await waitUntilServed(load, generation);
  }
  await load.stop();

  const final = await hearth.status();
  t.is(final.activeVersion, A);
  t.is(final.generation, 6);
  t.true(final.workers.length === 2 && final.workers.every((w) => w.version === A && w.generation === 6), JSON.stringify(final.workers));
  t.deepEqual(await socketInodes(hearth, APPS), inodes, 'no socket was re-bound at the end');

  for (const line of handoffs) t.log(line);
  t.log(`requests that succeeded: ${load.total()}`);
  for (const [name, n] of [...load.totals()].sort()) t.log(`  ${name}: ${n}`);
  for (const kind of CLIENT_KINDS) {
    if (kind === 'http-slow-pull') continue;
    t.log(`  metadata answers of ${kind} by generation: ${[...load.generations(kind)].sort((x, y) => x[0] - y[0]).map(([g, n]) => `gen ${g}: ${n}`).join(', ')}`);
  }
  const drains = [...drainStarts];
  const spanning = load.slowPulls.filter((p) => drains.some((d) => p.start < d && p.end > d));
  t.log(`slow pulls (waitMs 3000): ${load.slowPulls.length} sent, ${load.slowPulls.filter((p) => p.ok).length} answered 200; ${spanning.length} in flight when a drain began, ${spanning.filter((p) => p.ok).length} of them answered 200`);
  for (const p of spanning) t.log(`  in flight at a drain: ${p.ok ? '200' : 'failed'} after ${p.end - p.start} ms${p.lastOnConnection ? ', Connection: close (answered by the draining generation)' : ''}`);
  t.log(`failures: ${load.failures.length}`);
  for (const f of load.failures.slice(0, 40)) t.log(`  ${f.kind} ${f.op} [sent in "${f.phaseAtStart}", failed in "${f.phaseAtEnd}" after ${f.ms} ms]: ${f.error}`);
  // What the agent said around them: worker exits, errors and warnings (the cause of a failure is
  // rarely in the client's view of it).
  if (load.failures.length > 0) {
    const lines = hearth.output().split('\n').filter((l) => /"level":(40|50|60)|exit|signal|crash|ECONN|refus/i.test(l));
    for (const line of lines.slice(-60)) t.log(`  agent: ${line.slice(0, 400)}`);
  }
  t.is(load.failures.length, 0, 'every request succeeded');
  t.true(spanning.some((p) => p.ok && p.lastOnConnection), 'a slow pull in flight at a drain was answered 200 by the draining generation');
  for (let g = 1; g <= 6; g++) t.true(load.servedBy(g) > 0, `generation ${g} served requests`);
});

test.serial('a subscription across two upgrades loses no message (duplicates counted)', async (t) => {
  t.timeout(240_000);
  const hearth = started();
  const inodes = await socketInodes(hearth, APPS);
  const publisher = createGrpcClients(hearth.socket('demo', 'grpc'), 'demo-token', { 'grpc.primary_user_agent': 'under-load-publisher' });
  const sub = new Subscriber(hearth.socket('demo', 'grpc'), { pubsubName: 'default', topic: 'under-load-seq', subscription: 'under-load-seq', ackDeadlineMs: 3000 });
  t.teardown(() => {
    sub.close();
    publisher.close();
  });
  await sub.start();

  const published = new Set<number>();
  const publishFailures: string[] = [];
  let publishing = true;
  const publishLoop = (async () => {
    const until = Date.now() + 200_000;
    for (let n = 1; publishing && n <= 100_000 && Date.now() < until; n++) {
      try {
        await publisher.pubsub.Publish({ pubsubName: 'default', topic: 'under-load-seq', data: Buffer.from(String(n)), dataContentType: 'text/plain', metadata: { rawPayload: 'true' } });
        published.add(n);
      } catch (err) {
        publishFailures.push(`#${n}: ${describe(err)}`);
      }
      await sleep(10);
    }
  })();

  await sleep(1000);
  for (const version of [current === A ? B : A, current === A ? A : B]) {
    const run = await upgradeCli(hearth, version, () => undefined);
    t.is(run.code, 0, `${run.stdout}\n${run.stderr}`);
    current = version;
    await sleep(1000);
  }
  publishing = false;
  await publishLoop;
  const missing = await waitForAll(sub, published, 60_000);

  t.log(`published ${published.size} (publish failures ${publishFailures.length}), received ${sub.received.size} distinct, ${sub.duplicates} duplicate deliveries`);
  t.log(`stream ends: ${sub.ends.join('; ') || 'none'}; subscribed ${sub.subscriptions} time(s)`);
  for (const f of publishFailures.slice(0, 20)) t.log(`  publish failed ${f}`);
  if (missing.length > 0) t.log(`missing: ${missing.slice(0, 50).join(', ')}${missing.length > 50 ? ' …' : ''}`);
  t.true(published.size > 0);
  t.deepEqual(missing, [], 'every published message was received');
  t.is(publishFailures.length, 0, 'every publish succeeded');
  t.true(sub.ends.length >= 2, 'the stream was ended by each drain (and resubscribed)');
  for (const end of sub.ends) t.regex(end, /^UNAVAILABLE HEARTH_ERR_SUBSCRIPTION_CLOSED/, 'streams end with the documented resubscribe status');
  t.deepEqual(await socketInodes(hearth, APPS), inodes);
});

function started(): HearthProcess {
  if (!h) throw new Error('hearth did not start');
  return h;
}

/** Waits (bounded) until every client kind but the slow pull has been served by `generation`. */
async function waitUntilServed(load: UpgradeLoad, generation: number): Promise<void> {
  const served = (): boolean => CLIENT_KINDS.every((k) => k === 'http-slow-pull' || load.servedBy(generation, k) > 0);
  // Not a failure by itself: the assertions after the load say which kind was not served.
  await waitFor(`every client kind served by generation ${generation}`, served, { timeoutMs: 30_000 }).catch(() => undefined);
  await sleep(500);
}

async function packageArtifact(version: string, outDir: string): Promise<Artifact> {
  const dir = path.join(outDir, version);
  const { stdout } = await promisify(execFile)(process.execPath, [PACKAGE_SCRIPT, '--out', dir], {
    env: { ...process.env, HEARTH_BUILD_VERSION: version },
    timeout: 120_000,
  });
  const file = /^wrote (.+\.tgz)$/m.exec(stdout)?.[1];
  const sha256 = /^sha256 ([0-9a-f]{64})$/m.exec(stdout)?.[1];
  if (file === undefined || sha256 === undefined) throw new Error(`package-artifact printed no artifact:\n${stdout}`);
  return { file, sha256 };
}

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** When each phase's first progress line arrived (epoch ms). */
  readonly phaseAt: ReadonlyMap<string, number>;
}

/** `hearth upgrade` through the real CLI, reporting each phase as its first line arrives. */
function upgradeCli(hearth: HearthProcess, version: string, onPhase: (phase: string) => void, timeoutMs = 150_000): Promise<CliRun> {
  const artifact = artifacts.get(version);
  if (!artifact) throw new Error(`no artifact ${version}`);
  const child = spawn(process.execPath, [HEARTH_MAIN, 'upgrade', '--artifact', artifact.file, '--sha256', artifact.sha256, '--run-dir', hearth.runDir], {
    cwd: hearth.dir,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const phaseAt = new Map<string, number>();
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const phase = /^\[([\w-]+)\]/.exec(line)?.[1];
      if (phase !== undefined && !phaseAt.has(phase)) {
        phaseAt.set(phase, Date.now());
        onPhase(phase);
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => killChild(child), timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr, phaseAt });
    });
  });
}

function killChild(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/**
 * A gRPC subscriber that acks every delivery and resubscribes (bounded) whenever its stream ends,
 * each time on a new client, as an app would after UNAVAILABLE.
 */
class Subscriber {
  readonly received = new Set<number>();
  duplicates = 0;
  subscriptions = 0;
  readonly ends: string[] = [];
  readonly #socket: string;
  readonly #initial: Msg;
  #clients: GrpcClients | undefined;
  #closed = false;

  constructor(socket: string, initial: Msg) {
    this.#socket = socket;
    this.#initial = initial;
  }

  /** Resolves once the first stream is ready (the group exists from then on). */
  start(): Promise<void> {
    return this.#subscribe();
  }

  #subscribe(): Promise<void> {
    this.subscriptions += 1;
    this.#clients?.close();
    const clients = createGrpcClients(this.#socket, 'demo-token', { 'grpc.primary_user_agent': `under-load-subscriber/${this.subscriptions}` });
    this.#clients = clients;
    const stream = clients.pubsub.Subscribe();
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      let ended = false;
      const end = (what: string): void => {
        if (ended) return;
        ended = true;
        if (this.#closed) return;
        this.ends.push(what);
        if (!ready) reject(new Error(`subscription ended before ready: ${what}`));
        if (this.subscriptions >= 50) return;
        // Resubscribe after a short pause; a failure to get ready is one more end, retried in turn.
        setTimeout(() => {
          if (!this.#closed) this.#subscribe().catch(() => undefined);
        }, 50);
      };
      stream.on('data', (res: SubscribeResponse) => {
        if (res.response === 'ready') {
          ready = true;
          resolve();
        } else if (res.response === 'delivery' && res.delivery) {
          const n = Number(Buffer.from(res.delivery.data).toString('utf8'));
          if (this.received.has(n)) this.duplicates += 1;
          else this.received.add(n);
          stream.write({ ack: { deliveryId: res.delivery.deliveryId } });
        }
      });
      stream.on('error', (err: unknown) => {
        const e = callError(err);
        end(`${grpcStatusName(e.code)} ${e.hearthCode ?? ''} ${e.details}`.replace(/\s+/g, ' ').trim());
      });
      stream.on('status', (s: { code: number; details: string }) => {
        if (s.code === 0) end(`OK ${s.details}`);
      });
      stream.write({ initial: this.#initial });
    });
  }

  close(): void {
    this.#closed = true;
    this.#clients?.close();
  }
}

function grpcStatusName(code: number): string {
  return grpc.status[code] ?? `status ${code}`;
}

/** Waits (bounded) until every published number was received; returns those still missing. */
async function waitForAll(sub: Subscriber, published: ReadonlySet<number>, timeoutMs: number): Promise<number[]> {
  const missing = (): number[] => [...published].filter((n) => !sub.received.has(n)).sort((x, y) => x - y);
  await waitFor('every published number', () => missing().length === 0, { timeoutMs, everyMs: 200 }).catch(() => undefined);
  return missing();
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
