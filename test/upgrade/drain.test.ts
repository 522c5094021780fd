// What the old generation does while it leaves (calls in flight complete, the drain is
// bounded): a slow request in flight completes, a subscription is ended with a status that says "resubscribe" and loses no
// message, and a worker that cannot drain is killed at the deadline without holding up the
// hand-off.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import { HttpClient } from '../helpers/http-client.js';
import { adminHandoff, alive, pidsOf, ResubscribingConsumer, stopProcess } from '../helpers/upgrade-helpers.js';
import { sleep, waitFor } from '../support/wait.js';

let h: HearthProcess;

test.before(async () => {
  // Grace for servers is 0.8 × 0.7 of the drain deadline: room for a 3 s long poll.
  h = await startHearth({ config: { upgrade: { drainTimeoutMs: 10_000 } } });
});
test.after.always(async () => {
  await h?.stop();
});

async function publish(topic: string, n: number, tag: string): Promise<string[]> {
  const c = new HttpClient(h.socket('demo', 'http'), { token: 'demo-token', keepAlive: false });
  try {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await c.post(`/v1.0/publish/default/${topic}`, { tag, i });
      if (r.status !== 204) throw new Error(`publish ${tag}/${i}: ${r.status} ${r.text()}`);
      ids.push(String(r.headers['hearth-message-id']));
    }
    return ids;
  } finally {
    c.close();
  }
}

test.serial('a slow request in flight when the drain begins completes (a 3 s long poll answered 200)', async (t) => {
  const topic = `slow-${randomUUID().slice(0, 8)}`;
  const c = new HttpClient(h.socket('demo', 'http'), { token: 'demo-token', keepAlive: true });
  t.teardown(() => c.close());
  // Registers the subscription; the next pull then waits for messages that do not come.
  t.is((await c.post(`/v1.0-hearth/subscriptions/default/${topic}/pull`, {})).status, 200);
  const oldPids = pidsOf(await h.status());

  // Back-to-back 3 s long polls on one keep-alive connection until one is answered by the draining
  // generation: how long the new generation takes to get ready varies with the machine's load, so
  // no single poll can be timed to straddle the start of the drain.
  let reloading = true;
  const reloaded = adminHandoff(h, 'reload').finally(() => (reloading = false));
  let res = await c.post(`/v1.0-hearth/subscriptions/default/${topic}/pull`, { waitMs: 3000 });
  while (reloading && res.headers.connection !== 'close') {
    t.is(res.status, 200, res.text());
    res = await c.post(`/v1.0-hearth/subscriptions/default/${topic}/pull`, { waitMs: 3000 });
  }
  const reload = await reloaded;

  t.is(reload.final?.result, 'ok', JSON.stringify(reload.final));
  t.is(res.status, 200, res.text());
  t.deepEqual(res.json<{ deliveries: unknown[] }>().deliveries, []);
  // Served by the old generation, which told the client this connection ends here.
  t.is(res.headers.connection, 'close');
  for (const pid of oldPids) t.false(alive(pid));
  t.is((await c.get('/v1.0/metadata')).status, 200, 'the keep-alive client simply opened a new connection');
});

test.serial('a subscription across a reload: the stream ends with UNAVAILABLE + HEARTH_ERR_SUBSCRIPTION_CLOSED, the client resubscribes, nothing is lost', async (t) => {
  const topic = `across-${randomUUID().slice(0, 8)}`;
  const consumer = new ResubscribingConsumer(h, { pubsubName: 'default', topic, subscription: 'across', ackDeadlineMs: 2000, maxInFlight: 20 });
  t.teardown(() => consumer.stop());
  await consumer.start();

  const published = await publish(topic, 20, 'before');
  let reloading = true;
  const reload = adminHandoff(h, 'reload').finally(() => (reloading = false));
  // Keep publishing while the hand-off runs (new connections reach both generations).
  const during: string[] = [];
  const publishing = (async () => {
    for (let i = 0; reloading && i < 400; i++) {
      during.push(...(await publish(topic, 1, `during-${i}`)));
      await sleep(50);
    }
  })();
  t.is((await reload).final?.result, 'ok');
  await publishing;
  published.push(...during, ...(await publish(topic, 20, 'after')));

  await waitFor('every published message', async () => (published.every((id) => consumer.received().has(id)) ? true : undefined), { timeoutMs: 60_000 });
  t.deepEqual(consumer.errors, []);
  t.true(consumer.ends.length >= 1, 'the draining worker ended the stream');
  for (const end of consumer.ends) {
    t.is(end.code, grpc.status.UNAVAILABLE);
    t.is(end.hearthCode, 'HEARTH_ERR_SUBSCRIPTION_CLOSED');
  }
  t.log(`published ${published.length} (${during.length} during the hand-off), received ${consumer.received().size} distinct, ${consumer.duplicates()} duplicate deliveries, ${consumer.ends.length} stream end(s)`);
});

test.serial('a worker that cannot drain (SIGSTOPped) is SIGKILLed at the deadline and the hand-off still completes', async (t) => {
  const before = await h.status();
  const [stuck, other] = pidsOf(before);
  if (stuck === undefined || other === undefined) return t.fail('expected two workers');
  stopProcess(t, stuck);

  const r = await adminHandoff(h, 'reload');
  t.is(r.final?.result, 'ok', JSON.stringify(r.final));
  t.true(r.lines.some((l) => l.phase === 'drain' && new RegExp(`killed pid\\(s\\) ${stuck}: not exited within 10000 ms`).test(l.message ?? '')), JSON.stringify(r.lines));
  await waitFor('the stopped worker to be gone', async () => (alive(stuck) ? undefined : true), { timeoutMs: 10_000 });
  t.false(alive(other), 'the other old worker drained and exited');

  const after = await h.status();
  t.is(after.generation, before.generation + 1);
  t.true(after.ready, after.problems.join('; '));
  t.false(pidsOf(after).includes(stuck));
  t.regex(h.output(), new RegExp(`"workers":\\[${stuck}\\].*workers did not exit within the drain deadline; killing them`));
});
