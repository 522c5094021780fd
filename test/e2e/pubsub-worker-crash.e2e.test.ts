// A subscription survives `kill -9` of a worker of a real `hearth start`: the stream on the
// killed worker ends, the one on the other worker keeps receiving, messages published while the
// worker is dead and the deliveries the dead worker held unacked all arrive after resubscribing
// (at least once: duplicates are allowed and counted). Its own agent: it kills a worker.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { subscribe } from '../helpers/grpc-subscription.js';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import { Collector, grpcConnection, grpcConnectionPerWorker, httpClient, receivedAll, uniq } from './e2e-helpers.js';
import { waitFor } from '../support/wait.js';

const P = 'default';
let h: HearthProcess;

test.before(async () => {
  h = await startHearth({ config: { logLevel: 'debug' } });
});
test.after.always(async () => {
  await h?.stop();
});

/** Publishes over a new HTTP connection each time (whichever worker accepts it). */
async function publish(topic: string, n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const once = httpClient(h, 'demo', { keepAlive: false });
    try {
      const res = await once.post(`/v1.0/publish/${P}/${topic}`, { tag, i });
      if (res.status !== 204) throw new Error(`publish ${tag} ${i}: ${res.status} ${res.text()}`);
      ids.push(String(res.headers['hearth-message-id']));
    } finally {
      once.close();
    }
  }
  return ids;
}

test.serial('a subscription survives kill -9 of the worker serving one of its streams', async (t) => {
  const tp = uniq('crash');
  const initial = { pubsubName: P, topic: tp, subscription: 'survivor', ackDeadlineMs: 2000, maxInFlight: 10 };
  const perWorker = await grpcConnectionPerWorker(h, 'demo');
  t.teardown(() => perWorker.forEach((x) => x.close()));
  const [victim, survivor] = [...perWorker];
  if (!victim || !survivor) return t.fail('expected a connection on each of two workers');
  const [victimPid, victimConn] = victim;
  const [survivorPid, survivorConn] = survivor;

  // The victim's stream never acks: what it holds when it dies must come back to the group.
  const onVictim = new Collector(subscribe(victimConn, initial), false);
  const onSurvivor = new Collector(subscribe(survivorConn, initial));
  t.teardown(() => [onVictim, onSurvivor].forEach((x) => x.sub.cancel()));
  await Promise.all([onVictim.sub.ready, onSurvivor.sub.ready]);

  const before = await publish(tp, 20, 'before');
  await receivedAll([onVictim, onSurvivor], before);
  const heldByVictim = onVictim.deliveries.map((d) => d.messageId);
  t.log(`before the kill: ${heldByVictim.length} held unacked by the victim, ${onSurvivor.deliveries.length} acked by the survivor`);

  process.kill(victimPid, 'SIGKILL');
  const end = await onVictim.sub.ended;
  t.not(end.code, grpc.status.OK);
  t.log(`the victim's stream ended with ${grpc.status[end.code]} ${end.hearthCode ?? ''}`);

  // Published while the worker is dead (its replacement may or may not be up yet).
  const during = await publish(tp, 20, 'during');

  // A client resubscribes on a new connection, as it would on any stream end.
  const resubConn = grpcConnection(h, 'demo');
  t.teardown(() => resubConn.close());
  const resubscribed = new Collector(subscribe(resubConn, initial));
  t.teardown(() => resubscribed.sub.cancel());
  t.is(await resubscribed.sub.ready, 'survivor');

  await receivedAll([onSurvivor, resubscribed], [...before, ...during]);

  const after = await waitFor('a replacement worker', async () => {
    const s = await h.status();
    const fresh = s.workers.find((w) => w.pid !== victimPid && w.pid !== survivorPid && w.state === 'ready');
    return fresh && s.ready ? s : undefined;
  });
  t.true(after.workers.some((w) => w.pid === survivorPid && w.state === 'ready'), 'the other worker kept running');
  t.false(after.workers.some((w) => w.pid === victimPid));

  const later = await publish(tp, 10, 'after');
  await receivedAll([onSurvivor, resubscribed], later);

  // At least once: every message was acked by a live stream; count the duplicates.
  const all = [...before, ...during, ...later];
  const live = [onSurvivor, resubscribed];
  const times = (id: string): number => live.reduce((n, x) => n + x.count(id), 0);
  t.true(all.every((id) => times(id) >= 1));
  const duplicates = all.reduce((n, id) => n + times(id) - 1, 0);
  t.log(`${all.length} messages, ${duplicates} duplicate deliveries to the live streams; ${resubscribed.deliveries.length} to the resubscribed stream`);
  // What the victim held was redelivered with a higher attempt.
  for (const id of heldByVictim) {
    const redelivered = [...onSurvivor.deliveries, ...resubscribed.deliveries].filter((d) => d.messageId === id);
    t.true(redelivered.some((d) => d.attempt >= 2), `message ${id} held by the killed worker came back`);
  }
  await Promise.all(live.map((x) => x.sub.end()));
});

test.serial('an HTTP pull subscription survives kill -9 of a worker', async (t) => {
  const tp = uniq('crash-pull');
  const c = httpClient(h, 'demo', { keepAlive: false });
  t.teardown(() => c.close());
  const pull = async (waitMs: number): Promise<{ messageId: string; deliveryId: string }[]> => {
    const res = await c.post(`/v1.0-hearth/subscriptions/${P}/${tp}/pull`, { max: 10, waitMs, ackDeadlineMs: 2000 });
    if (res.status !== 200) throw new Error(`pull: ${res.status} ${res.text()}`);
    return res.json<{ deliveries: { messageId: string; deliveryId: string }[] }>().deliveries;
  };
  await pull(0);
  const before = await publish(tp, 5, 'before');
  const held = await pull(10_000); // leased, never acked

  const s = await h.status();
  const victim = s.workers[0];
  if (!victim) return t.fail('no worker');
  process.kill(victim.pid, 'SIGKILL');
  // Publish once it is gone (a connection it accepted while dying would just be reset).
  await waitFor('the killed worker gone', async () => ((await h.status()).workers.some((w) => w.pid === victim.pid) ? undefined : true));
  const during = await publish(tp, 5, 'during');

  const seen = new Map<string, number>();
  await waitFor(
    'every message through pulls',
    async () => {
      const got = await pull(2000);
      for (const d of got) seen.set(d.messageId, (seen.get(d.messageId) ?? 0) + 1);
      if (got.length > 0) {
        const ack = await c.post(`/v1.0-hearth/subscriptions/${P}/${tp}/ack`, { deliveryIds: got.map((d) => d.deliveryId) });
        if (ack.status !== 204) throw new Error(`ack: ${ack.status} ${ack.text()}`);
      }
      return [...before, ...during].every((id) => seen.has(id)) ? true : undefined;
    },
    { timeoutMs: 60_000 },
  );
  t.true(held.length > 0);
  t.pass(`${held.length} held when the worker died; ${seen.size} messages received`);
  await waitFor('a replacement worker', async () => ((await h.status()).ready ? true : undefined));
});
