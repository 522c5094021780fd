// pubsub.kafka with several workers: two component instances in one test process are two members
// of the same Kafka consumer group, as two worker processes (or two generations during a hot
// upgrade) would be. Against librdkafka's mock cluster with idempotence off (it cannot serve
// InitProducerId), so the test names say so.
import os from 'node:os';
import test from 'ava';
import { KafkaPubSubBroker } from '../../agent/components/kafka/kafka-pubsub-broker.js';
import type { BrokerDelivery, BrokerSubscription, SubscribeOptions } from '../../agent/components/pubsub-broker.js';
import { sorted, uniq } from '../conformance/conformance-helpers.js';
import { KafkaMock } from '../support/kafka-mock.js';
import { componentConfig, context } from './component-helpers.js';
import { sleep, waitFor } from '../support/wait.js';
import { subscribeOptions } from './component-helpers.js';

let mock: KafkaMock | undefined;
test.before(async () => {
  mock = await KafkaMock.start();
});
test.after.always(async () => {
  await mock?.close();
});

const FAST_GROUPS = { sessionTimeoutMs: 4000, heartbeatIntervalMs: 500, fetchMaxWaitMs: 300 };
const LONG_LEASE = 600_000;

/** Every broker a test starts; closed (or already destroyed) at the end even when it fails. */
class Workers {
  private readonly all: KafkaPubSubBroker[] = [];

  async start(): Promise<KafkaPubSubBroker> {
    if (!mock) throw new Error('kafka mock not started');
    const config = componentConfig('kafka', 'pubsub.kafka', { brokers: mock.bootstrap, idempotent: false, ...FAST_GROUPS });
    const broker = new KafkaPubSubBroker(context(config, os.tmpdir()));
    this.all.push(broker);
    await broker.start();
    return broker;
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled(this.all.map((b) => b.close()));
  }
}

function options(topic: string, group: string, extra: Partial<SubscribeOptions> = {}): SubscribeOptions {
  return subscribeOptions(topic, group, { ackDeadlineMs: LONG_LEASE, maxDeliveryAttempts: 10, ...extra });
}

/** A subscription that records deliveries and acks them when `autoAck`. */
async function subscribe(broker: KafkaPubSubBroker, opts: SubscribeOptions, autoAck: boolean): Promise<{ got: BrokerDelivery[]; sub: BrokerSubscription }> {
  const got: BrokerDelivery[] = [];
  // Deliveries start only after subscribe() has returned the handle.
  const sub = await broker.subscribe(opts, (d) => {
    got.push(d);
    if (autoAck) sub.ack(d.deliveryId).catch(() => undefined);
  });
  return { got, sub };
}

function publish(broker: KafkaPubSubBroker, topic: string, text: string, key?: string): Promise<string> {
  return broker.publish({ topic, data: Buffer.from(text), contentType: 'text/plain', metadata: {}, key });
}

const ids = (ds: BrokerDelivery[]): string[] => ds.map((d) => d.messageId);

test('kafka (mock broker: idempotence off): two workers share one group; both take part and every message is delivered at least once', async (t) => {
  const workers = new Workers();
  try {
    const [a, b] = [await workers.start(), await workers.start()];
    const topic = uniq('shared');
    const group = uniq('app||sub');
    const subA = await subscribe(a, options(topic, group), true);
    const subB = await subscribe(b, options(topic, group), true);
    const published: string[] = [];
    // Keep publishing until the rebalance has given both workers partitions.
    await waitFor(
      'both workers to receive messages',
      async () => {
        published.push(await publish(a, topic, `m${published.length}`));
        await sleep(100);
        return subA.got.length > 0 && subB.got.length > 0;
      },
      { timeoutMs: 60_000, everyMs: 10, retryErrors: false },
    );
    for (let i = 0; i < 10; i++) published.push(await publish(b, topic, `tail${i}`));
    await waitFor('every message', () => published.every((id) => ids([...subA.got, ...subB.got]).includes(id)), { timeoutMs: 30_000, everyMs: 10 });
    t.true(subA.got.length > 0 && subB.got.length > 0);
    t.deepEqual(sorted(new Set(ids([...subA.got, ...subB.got]))), sorted(published));
  } finally {
    await workers.closeAll();
  }
});

test('kafka (mock broker: idempotence off): a worker destroyed with unacked leases: the other worker receives them, attempt counts carried over', async (t) => {
  const workers = new Workers();
  try {
    const [a, b] = [await workers.start(), await workers.start()];
    const topic = uniq('crash');
    const group = uniq('app||sub');
    const held = await subscribe(a, options(topic, group), false);
    const published: string[] = [];
    for (let i = 0; i < 6; i++) published.push(await publish(a, topic, `m${i}`));
    await waitFor('worker A to lease everything', () => held.got.length >= 6, { timeoutMs: 20_000, everyMs: 10 });
    const other = await subscribe(b, options(topic, group), true);
    // Give B's join time to start, then A dies without acking (no commit, no graceful close).
    await sleep(1000);
    a.destroy();
    await waitFor('worker B to receive what A held', () => published.every((id) => ids(other.got).includes(id)), { timeoutMs: 60_000, everyMs: 10 });
    t.deepEqual(sorted(new Set(ids(other.got))), sorted(published));
    // A's deliveries were recorded in the commit ledger, so B's are second attempts.
    t.true(other.got.every((d) => d.attempt === 2), JSON.stringify(other.got.map((d) => d.attempt)));
  } finally {
    await workers.closeAll();
  }
});

test('kafka (mock broker: idempotence off): handing a subscription to a new generation commits what was acked, even out of order; only the rest is redelivered', async (t) => {
  const workers = new Workers();
  try {
    const old = await workers.start();
    const topic = uniq('handoff');
    const group = uniq('app||sub');
    const before = await subscribe(old, options(topic, group), false);
    // One key: one partition, so the acks below leave gaps the commit offset alone cannot express.
    const published: string[] = [];
    for (let i = 0; i < 6; i++) published.push(await publish(old, topic, `m${i}`, 'one-key'));
    await waitFor('the old generation to lease everything', () => before.got.length >= 6, { timeoutMs: 20_000, everyMs: 10 });
    const acked = new Set<string>();
    for (const d of before.got) {
      if (['m1', 'm3', 'm4'].includes(d.data.toString())) {
        await before.sub.ack(d.deliveryId);
        acked.add(d.messageId);
      }
    }
    await old.close();

    const next = await workers.start();
    const after = await subscribe(next, options(topic, group), true);
    const expected = published.filter((id) => !acked.has(id));
    await waitFor('the unacked messages', () => after.got.length >= expected.length, { timeoutMs: 30_000, everyMs: 10 });
    await sleep(1000);
    t.deepEqual(sorted(ids(after.got)), sorted(expected));
    t.deepEqual(
      after.got.map((d) => d.data.toString()),
      ['m0', 'm2', 'm5'],
    );
    t.true(after.got.every((d) => d.attempt === 2));
  } finally {
    await workers.closeAll();
  }
});

test('kafka (mock broker: idempotence off): a pull-ack that reaches another worker is UNKNOWN_DELIVERY; the message returns after its deadline', async (t) => {
  const workers = new Workers();
  try {
    const [a, b] = [await workers.start(), await workers.start()];
    const topic = uniq('pull');
    const group = uniq('app||sub');
    const opts = options(topic, group, { ackDeadlineMs: 1000 });
    t.deepEqual(await a.pull(opts, 1, 0), []);
    const id = await publish(a, topic, 'p');
    const got: BrokerDelivery[] = [];
    await waitFor('the pulled message', async () => (got.push(...(await a.pull(opts, 1, 500))), got.length > 0), { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
    await t.throwsAsync(b.ack(group, got[0]?.deliveryId ?? ''), { code: 'HEARTH_ERR_UNKNOWN_DELIVERY' });
    const again: BrokerDelivery[] = [];
    await waitFor('the redelivery', async () => (again.push(...(await a.pull(opts, 1, 500))), again.length > 0), { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
    t.is(again[0]?.messageId, id);
    t.is(again[0]?.attempt, 2);
    await a.ack(group, again[0]?.deliveryId ?? '');
  } finally {
    await workers.closeAll();
  }
});
