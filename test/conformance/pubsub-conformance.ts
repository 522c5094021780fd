// Conformance suite for PubSubBroker: any backend must pass it unchanged. Absence checks wait a
// while and then assert nothing more arrived; they never assert how fast something happened.
import type { ExecutionContext, TestFn } from 'ava';
import type { BrokerDelivery, PubSubBroker, SubscribeOptions } from '../../agent/components/pubsub-broker.js';
import { sorted, uniq, withStore, type MakeStore } from './conformance-helpers.js';
import { sleep, waitFor } from '../support/wait.js';
import { subscribeOptions } from '../components/component-helpers.js';

const QUIET_MS = 600;

function options(topic: string, group: string, extra: Partial<SubscribeOptions> = {}): SubscribeOptions {
  return subscribeOptions(topic, group, extra);
}

async function publish(broker: PubSubBroker, topic: string, text: string, metadata: Record<string, string> = {}): Promise<string> {
  return broker.publish({ topic, data: Buffer.from(text), contentType: 'text/plain', metadata, key: undefined });
}

/** Collects what a subscription delivers; `onDelivery` may ack/nack. */
class Collector {
  readonly got: BrokerDelivery[] = [];
  onDelivery: ((d: BrokerDelivery) => void) | undefined;
  readonly deliver = (d: BrokerDelivery): void => {
    this.got.push(d);
    this.onDelivery?.(d);
  };

  async waitCount(n: number, what = `${n} deliveries`): Promise<void> {
    await waitFor(what, () => this.got.length >= n, { timeoutMs: 20_000, everyMs: 10 });
  }

  texts(): string[] {
    return this.got.map((d) => d.data.toString());
  }
}

/** Swallows nothing: an ack failure inside a callback fails the test at the end. */
function acker(t: ExecutionContext, ack: (id: string) => Promise<void>): (d: BrokerDelivery) => void {
  return (d) => {
    ack(d.deliveryId).catch((err: unknown) => t.fail(`ack ${d.deliveryId} failed: ${String(err)}`));
  };
}

export function pubsubConformance(test: TestFn, name: string, makeStore: MakeStore<PubSubBroker>): void {
  test(`${name} pubsub: a subscriber receives what is published, with every field; acked messages stay acked`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const c = new Collector();
      const sub = await broker.subscribe(options(topic, uniq('g'), { ackDeadlineMs: 500 }), c.deliver);
      try {
        c.onDelivery = acker(t, (id) => sub.ack(id));
        const messageId = await publish(broker, topic, 'hello', { traceparent: '00-abc-def-01' });
        t.is(typeof messageId, 'string');
        await c.waitCount(1);
        const d = c.got[0];
        t.is(d?.messageId, messageId);
        t.is(d?.topic, topic);
        t.is(d?.data.toString(), 'hello');
        t.is(d?.contentType, 'text/plain');
        t.deepEqual(d?.metadata, { traceparent: '00-abc-def-01' });
        t.is(d?.attempt, 1);
        t.is(typeof d?.deliveryId, 'string');
        await sleep(QUIET_MS * 2);
        t.is(c.got.length, 1);
      } finally {
        await sub.close();
      }
    });
  });

  test(`${name} pubsub: a group starts at its first subscribe`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      await publish(broker, topic, 'before');
      const c = new Collector();
      const sub = await broker.subscribe(options(topic, uniq('g')), c.deliver);
      try {
        c.onDelivery = acker(t, (id) => sub.ack(id));
        await publish(broker, topic, 'after');
        await c.waitCount(1);
        await sleep(QUIET_MS);
        t.deepEqual(c.texts(), ['after']);
      } finally {
        await sub.close();
      }
    });
  });

  test(`${name} pubsub: messages are kept for a group while no consumer is connected`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const group = uniq('g');
      const first = await broker.subscribe(options(topic, group), () => t.fail('nothing was published yet'));
      await first.close();
      for (let i = 0; i < 3; i++) await publish(broker, topic, `m${i}`);
      const c = new Collector();
      const sub = await broker.subscribe(options(topic, group), c.deliver);
      try {
        c.onDelivery = acker(t, (id) => sub.ack(id));
        await c.waitCount(3);
        t.deepEqual(c.texts().sort(), ['m0', 'm1', 'm2']);
      } finally {
        await sub.close();
      }
    });
  });

  test(`${name} pubsub: nack redelivers with the next attempt number, also after a delay`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const c = new Collector();
      const sub = await broker.subscribe(options(topic, uniq('g')), c.deliver);
      try {
        c.onDelivery = (d) => {
          const next = d.attempt === 1 ? sub.nack(d.deliveryId, 0) : d.attempt === 2 ? sub.nack(d.deliveryId, 300) : sub.ack(d.deliveryId);
          next.catch((err: unknown) => t.fail(String(err)));
        };
        const id = await publish(broker, topic, 'again');
        await c.waitCount(3);
        t.deepEqual(
          c.got.map((d) => [d.messageId, d.attempt]),
          [
            [id, 1],
            [id, 2],
            [id, 3],
          ],
        );
      } finally {
        await sub.close();
      }
    });
  });

  test(`${name} pubsub: an unacked delivery is redelivered after the ack deadline`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const c = new Collector();
      const sub = await broker.subscribe(options(topic, uniq('g'), { ackDeadlineMs: 300 }), c.deliver);
      try {
        c.onDelivery = (d) => {
          if (d.attempt >= 2) sub.ack(d.deliveryId).catch((err: unknown) => t.fail(String(err)));
        };
        const id = await publish(broker, topic, 'slow');
        await c.waitCount(2);
        t.is(c.got[1]?.messageId, id);
        t.is(c.got[1]?.attempt, 2);
      } finally {
        await sub.close();
      }
    });
  });

  test(`${name} pubsub: after maxDeliveryAttempts the message goes to the dead-letter topic`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const dlt = uniq('dlt');
      const dead = new Collector();
      const dlSub = await broker.subscribe(options(dlt, uniq('dlg')), dead.deliver);
      const c = new Collector();
      const sub = await broker.subscribe(options(topic, uniq('g'), { maxDeliveryAttempts: 2, deadLetterTopic: dlt }), c.deliver);
      try {
        dead.onDelivery = acker(t, (id) => dlSub.ack(id));
        c.onDelivery = (d) => {
          sub.nack(d.deliveryId, 0).catch((err: unknown) => t.fail(String(err)));
        };
        const id = await publish(broker, topic, 'poison', { origin: 'test' });
        await dead.waitCount(1, 'the dead-lettered message');
        const d = dead.got[0];
        t.is(d?.data.toString(), 'poison');
        t.is(d?.topic, dlt);
        t.is(d?.metadata.origin, 'test');
        // Records where it came from and how often it was tried (key names are the backend's).
        const values = Object.values(d?.metadata ?? {});
        t.true(values.includes(topic));
        t.true(values.includes('2'));
        await sleep(QUIET_MS);
        t.deepEqual(
          c.got.map((x) => [x.messageId, x.attempt]),
          [
            [id, 1],
            [id, 2],
          ],
        );
        t.is(dead.got.length, 1);
      } finally {
        await sub.close();
        await dlSub.close();
      }
    });
  });

  test(`${name} pubsub: two consumers of one group share the messages without duplicates`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const group = uniq('g');
      const a = new Collector();
      const b = new Collector();
      const subA = await broker.subscribe(options(topic, group, { maxInFlight: 3 }), a.deliver);
      const subB = await broker.subscribe(options(topic, group, { maxInFlight: 3 }), b.deliver);
      try {
        a.onDelivery = acker(t, (id) => subA.ack(id));
        b.onDelivery = acker(t, (id) => subB.ack(id));
        const n = 40;
        const ids = await Promise.all(Array.from({ length: n }, (_, i) => publish(broker, topic, `m${i}`)));
        await waitFor('all messages', () => a.got.length + b.got.length >= n, { timeoutMs: 20_000, everyMs: 10 });
        await sleep(QUIET_MS);
        const seen = [...a.got, ...b.got].map((d) => d.messageId);
        t.is(seen.length, n);
        t.deepEqual(sorted(seen), sorted(ids));
      } finally {
        await subA.close();
        await subB.close();
      }
    });
  });

  test(`${name} pubsub: two groups each receive every message`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const a = new Collector();
      const b = new Collector();
      const subA = await broker.subscribe(options(topic, uniq('ga')), a.deliver);
      const subB = await broker.subscribe(options(topic, uniq('gb')), b.deliver);
      try {
        a.onDelivery = acker(t, (id) => subA.ack(id));
        b.onDelivery = acker(t, (id) => subB.ack(id));
        const ids = new Set<string>();
        for (let i = 0; i < 10; i++) ids.add(await publish(broker, topic, `m${i}`));
        await a.waitCount(10);
        await b.waitCount(10);
        t.deepEqual(sorted(a.got.map((d) => d.messageId)), sorted(ids));
        t.deepEqual(sorted(b.got.map((d) => d.messageId)), sorted(ids));
      } finally {
        await subA.close();
        await subB.close();
      }
    });
  });

  test(`${name} pubsub: a subscription receives only its own topic`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const group = uniq('g');
      const c = new Collector();
      const sub = await broker.subscribe(options(topic, group), c.deliver);
      try {
        c.onDelivery = acker(t, (id) => sub.ack(id));
        await publish(broker, uniq('other'), 'elsewhere');
        await publish(broker, topic, 'mine');
        await c.waitCount(1);
        await sleep(QUIET_MS);
        t.deepEqual(c.texts(), ['mine']);
      } finally {
        await sub.close();
      }
    });
  });

  test(`${name} pubsub: ack with another group, an unknown id or twice is UNKNOWN_DELIVERY`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const group = uniq('app-a||sub');
      const foreign = uniq('app-b||sub');
      const c = new Collector();
      const sub = await broker.subscribe(options(topic, group), c.deliver);
      // The foreign group exists (another app's subscription) but never saw this topic.
      const other = await broker.subscribe(options(uniq('their-topic'), foreign), () => undefined);
      try {
        await publish(broker, topic, 'x');
        await c.waitCount(1);
        const id = c.got[0]?.deliveryId ?? '';
        await t.throwsAsync(broker.ack(foreign, id), { code: 'HEARTH_ERR_UNKNOWN_DELIVERY' });
        await t.throwsAsync(other.ack(id), { code: 'HEARTH_ERR_UNKNOWN_DELIVERY' });
        await t.throwsAsync(broker.nack(foreign, id, 0), { code: 'HEARTH_ERR_UNKNOWN_DELIVERY' });
        await t.throwsAsync(broker.ack(group, 'no-such-delivery'), { code: 'HEARTH_ERR_UNKNOWN_DELIVERY' });
        await broker.ack(group, id);
        await t.throwsAsync(sub.ack(id), { code: 'HEARTH_ERR_UNKNOWN_DELIVERY' });
        await sleep(QUIET_MS);
        t.is(c.got.length, 1);
      } finally {
        await sub.close();
        await other.close();
      }
    });
  });

  test(`${name} pubsub: close returns unacked deliveries to the group at once`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const group = uniq('g');
      const a = new Collector();
      const subA = await broker.subscribe(options(topic, group, { ackDeadlineMs: 600_000 }), a.deliver);
      const ids = new Set<string>();
      try {
        for (let i = 0; i < 3; i++) ids.add(await publish(broker, topic, `m${i}`));
        await a.waitCount(3);
      } finally {
        await subA.close();
      }
      const b = new Collector();
      const subB = await broker.subscribe(options(topic, group, { ackDeadlineMs: 600_000 }), b.deliver);
      try {
        b.onDelivery = acker(t, (id) => subB.ack(id));
        await b.waitCount(3);
        t.deepEqual(sorted(b.got.map((d) => d.messageId)), sorted(ids));
        t.true(b.got.every((d) => d.attempt === 2));
      } finally {
        await subB.close();
      }
    });
  });

  test(`${name} pubsub: a consumer never holds more than maxInFlight unacked deliveries`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const c = new Collector();
      const sub = await broker.subscribe(options(topic, uniq('g'), { maxInFlight: 2 }), c.deliver);
      try {
        for (let i = 0; i < 5; i++) await publish(broker, topic, `m${i}`);
        await c.waitCount(2);
        await sleep(QUIET_MS);
        t.is(c.got.length, 2);
        await sub.ack(c.got[0]?.deliveryId ?? '');
        await c.waitCount(3);
        await sleep(QUIET_MS);
        t.is(c.got.length, 3);
        c.onDelivery = acker(t, (id) => sub.ack(id));
        for (const d of c.got.slice(1)) await sub.ack(d.deliveryId);
        await c.waitCount(5);
        t.is(new Set(c.got.map((d) => d.messageId)).size, 5);
      } finally {
        await sub.close();
      }
    });
  });

  test(`${name} pubsub: pull registers the group, leases, and ack/nack go through the group`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const group = uniq('g');
      const opts = options(topic, group);
      t.deepEqual(await broker.pull(opts, 10, 0), []);
      const ids = new Set<string>();
      for (let i = 0; i < 3; i++) ids.add(await publish(broker, topic, `m${i}`));
      const got: BrokerDelivery[] = [];
      await waitFor('condition', async () => {
        got.push(...(await broker.pull(opts, 10, 1000)));
        return got.length >= 3;
      }, { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
      t.is(got.length, 3);
      t.deepEqual(sorted(got.map((d) => d.messageId)), sorted(ids));
      // Leased: a second pull sees nothing while the leases run.
      t.deepEqual(await broker.pull(opts, 10, 200), []);
      await broker.nack(group, got[0]?.deliveryId ?? '', 0);
      for (const d of got.slice(1)) await broker.ack(group, d.deliveryId);
      const again: BrokerDelivery[] = [];
      await waitFor('condition', async () => {
        again.push(...(await broker.pull(opts, 10, 1000)));
        return again.length >= 1;
      }, { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
      t.is(again.length, 1);
      t.is(again[0]?.messageId, got[0]?.messageId);
      t.is(again[0]?.attempt, 2);
      await broker.ack(group, again[0]?.deliveryId ?? '');
      await t.throwsAsync(broker.ack(group, again[0]?.deliveryId ?? ''), { code: 'HEARTH_ERR_UNKNOWN_DELIVERY' });
    });
  });

  test(`${name} pubsub: a late nack from a holder whose lease expired does not disturb the redelivery's new holder`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const group = uniq('g');
      const opts = options(topic, group, { ackDeadlineMs: 500 });
      t.deepEqual(await broker.pull(opts, 10, 0), []);
      const id = await publish(broker, topic, 'slow');
      const first: BrokerDelivery[] = [];
      await waitFor('condition', async () => {
        first.push(...(await broker.pull(opts, 1, 1000)));
        return first.length >= 1;
      }, { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
      // The first holder is too slow: its lease runs out and the message is leased again.
      const second: BrokerDelivery[] = [];
      await waitFor('condition', async () => {
        second.push(...(await broker.pull(opts, 1, 1000)));
        return second.length >= 1;
      }, { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
      t.is(second[0]?.messageId, id);
      t.is(second[0]?.attempt, 2);
      // Its nack arrives now: it must not hand the message out a third time under the new lease.
      await t.throwsAsync(broker.nack(group, first[0]?.deliveryId ?? '', 0), { code: 'HEARTH_ERR_UNKNOWN_DELIVERY' });
      t.deepEqual(await broker.pull({ ...opts, ackDeadlineMs: 30_000 }, 10, 200), []);
      await broker.ack(group, second[0]?.deliveryId ?? '');
    });
  });

  test(`${name} pubsub: pull waits for a message published meanwhile and honours max`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const opts = options(topic, uniq('g'));
      t.deepEqual(await broker.pull(opts, 5, 0), []);
      const pending = broker.pull(opts, 1, 15_000);
      await sleep(100);
      await publish(broker, topic, 'late');
      await publish(broker, topic, 'later');
      const got = await pending;
      t.is(got.length, 1);
      t.true(['late', 'later'].includes(got[0]?.data.toString() ?? ''));
      for (const d of got) await broker.ack(opts.group, d.deliveryId);
    });
  });

  test(`${name} pubsub: every message published concurrently is delivered at least once`, async (t) => {
    await withStore(makeStore, async (broker) => {
      const topic = uniq('topic');
      const c = new Collector();
      const sub = await broker.subscribe(options(topic, uniq('g'), { maxInFlight: 10 }), c.deliver);
      try {
        c.onDelivery = acker(t, (id) => sub.ack(id));
        const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => publish(broker, topic, `m${i}`)));
        await waitFor('all 100 messages', () => new Set(c.got.map((d) => d.messageId)).size >= 100, { timeoutMs: 30_000, everyMs: 10 });
        t.deepEqual(sorted(new Set(c.got.map((d) => d.messageId))), sorted(ids));
      } finally {
        await sub.close();
      }
    });
  });
}
