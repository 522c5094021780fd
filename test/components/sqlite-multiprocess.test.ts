// Real child processes sharing one SQLite file, as agent workers of several generations do.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { BrokerDelivery, PubSubBroker } from '../../agent/components/pubsub-broker.js';
import type { StateStore } from '../../agent/components/state-store.js';
import { sorted } from '../conformance/conformance-helpers.js';
import type { ChildMessage, ParentMessage } from '../fixtures/sqlite-child.js';
import { TempDirs, startComponent } from './component-helpers.js';
import { waitFor } from '../support/wait.js';
import { subscribeOptions } from './component-helpers.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'sqlite-child.js');
const temp = new TempDirs();
const children = new Set<ChildProcess>();

test.after.always(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all([...children].map((c) => exited(c)));
  await temp.removeAll();
});

class Child {
  readonly messages: ChildMessage[] = [];
  readonly proc: ChildProcess;

  constructor(args: string[]) {
    this.proc = fork(CHILD, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(this.proc);
    this.proc.on('message', (m) => this.messages.push(m as ChildMessage));
    this.proc.on('exit', () => children.delete(this.proc));
  }

  send(msg: ParentMessage): void {
    this.proc.send(msg);
  }

  async next<T extends ChildMessage['type']>(type: T, timeoutMs = 30_000): Promise<Extract<ChildMessage, { type: T }>> {
    let found: ChildMessage | undefined;
    await waitFor(
      `child message ${type}`,
      () => {
        found = this.messages.find((m) => m.type === type);
        if (!found && this.proc.exitCode !== null) throw new Error(`child exited (${this.proc.exitCode}) before sending ${type}`);
        return found !== undefined;
      },
      { timeoutMs, everyMs: 10, retryErrors: false },
    );
    return found as Extract<ChildMessage, { type: T }>;
  }

  of<T extends ChildMessage['type']>(type: T): Extract<ChildMessage, { type: T }>[] {
    return this.messages.filter((m): m is Extract<ChildMessage, { type: T }> => m.type === type);
  }
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

test('two processes get distinct sequencer ids, increasing within each process', async (t) => {
  const dir = await temp.make();
  const n = 200;
  const a = new Child(['sequencer', dir, 'orders', String(n)]);
  const b = new Child(['sequencer', dir, 'orders', String(n)]);
  await Promise.all([a.next('ready'), b.next('ready')]);
  a.send({ type: 'go' });
  b.send({ type: 'go' });
  const [ra, rb] = await Promise.all([a.next('ids', 60_000), b.next('ids', 60_000)]);
  const ids = [...ra.ids, ...rb.ids].map(BigInt);
  t.is(new Set(ids).size, 2 * n);
  for (const list of [ra.ids, rb.ids]) {
    t.is(list.length, n);
    t.true(list.every((v, i) => i === 0 || BigInt(v) > BigInt(list[i - 1] ?? '0')));
  }
  t.is(ids.reduce((m, v) => (v > m ? v : m), 0n), BigInt(2 * n));
  await Promise.all([exited(a.proc), exited(b.proc)]);
});

test('a group consumed from two processes gets every message published by both', async (t) => {
  const dir = await temp.make();
  const a = new Child(['pubsub', dir, 'orders', 'app||billing', 'a']);
  const b = new Child(['pubsub', dir, 'orders', 'app||billing', 'b']);
  await Promise.all([a.next('ready'), b.next('ready')]);
  const n = 150;
  a.send({ type: 'publish', n });
  b.send({ type: 'publish', n });
  const [pa, pb] = await Promise.all([a.next('published', 60_000), b.next('published', 60_000)]);
  const published = new Set([...pa.ids, ...pb.ids]);
  t.is(published.size, 2 * n);
  const received = (): Set<string> => new Set([...a.of('received'), ...b.of('received')].map((m) => m.messageId));
  await waitFor('every message to be consumed', () => received().size >= 2 * n, { timeoutMs: 60_000, everyMs: 10 });
  t.deepEqual(sorted(received()), sorted(published));
  t.log(`consumed by a: ${a.of('received').length}, by b: ${b.of('received').length}`);
  a.send({ type: 'stop' });
  b.send({ type: 'stop' });
  await Promise.all([a.next('stopped'), b.next('stopped')]);
  await Promise.all([exited(a.proc), exited(b.proc)]);
});

test('several processes opening the same fresh database at once all succeed (WAL switch races)', async (t) => {
  // Every worker of a generation opens the file at the same moment; switching a fresh file to WAL
  // can return SQLITE_BUSY without waiting on the busy timeout, which once failed a start in CI.
  for (let round = 0; round < 4; round++) {
    const dir = await temp.make();
    const kids = Array.from({ length: 5 }, () => new Child(['open', dir]));
    await Promise.all(kids.map((k) => k.next('ready')));
    for (const k of kids) k.send({ type: 'go' });
    await waitFor('every child to open', () => kids.every((k) => k.messages.some((m) => m.type === 'opened' || m.type === 'open-failed')), { timeoutMs: 60_000, everyMs: 10 });
    const failures = kids.flatMap((k) => k.of('open-failed').map((m) => m.error));
    t.deepEqual(failures, [], `round ${round}`);
    await Promise.all(kids.map((k) => exited(k.proc)));
  }
});

test('data written by a process that is then SIGKILLed is still there', async (t) => {
  const dir = await temp.make();
  const child = new Child(['write', dir, '50']);
  const { keys } = await child.next('written');
  child.proc.kill('SIGKILL');
  await exited(child.proc);
  const store = await startComponent<StateStore>('state.sqlite', dir, { name: 'kv' });
  try {
    const got = await store.bulkGet(keys);
    t.is(got.length, 50);
    t.true(got.every((s, i) => s?.value.toString() === `v${i}`));
  } finally {
    await store.close();
  }
});

test('deliveries leased by a SIGKILLed consumer are redelivered after the ack deadline', async (t) => {
  const dir = await temp.make();
  const child = new Child(['pubsub', dir, 'jobs', 'app||worker', 'k', 'noack']);
  await child.next('ready');
  child.send({ type: 'publish', n: 3 });
  const { ids } = await child.next('published');
  await waitFor('the child to lease all three', () => child.of('received').length >= 3, { timeoutMs: 30_000, everyMs: 10 });
  child.proc.kill('SIGKILL');
  await exited(child.proc);

  const broker = await startComponent<PubSubBroker>('pubsub.sqlite', dir, { name: 'bus' });
  try {
    const opts = subscribeOptions('jobs', 'app||worker', { maxDeliveryAttempts: 100, maxInFlight: 10 });
    // The child held the leases (1.5 s ack deadline); they become claimable once they expire.
    const got: BrokerDelivery[] = [];
    await waitFor('redelivery of the dead consumer\'s leases', async () => {
      got.push(...(await broker.pull(opts, 10, 1000)));
      return got.length >= 3;
    }, { timeoutMs: 30_000, everyMs: 10, retryErrors: false });
    t.deepEqual(sorted(got.map((d) => d.messageId)), sorted(ids));
    t.true(got.every((d) => d.attempt >= 2));
    for (const d of got) await broker.ack(opts.group, d.deliveryId);
  } finally {
    await broker.close();
  }
});
