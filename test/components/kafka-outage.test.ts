// pubsub.kafka when Kafka fails: the mock cluster is taken down (connections dropped and refused)
// and brought back, or slowed down, while one component instance keeps running. The tests share
// one mock and change its state, so they run serially. Idempotence is off: the mock cannot serve
// InitProducerId.
import os from 'node:os';
import test from 'ava';
import { KafkaPubSubBroker } from '../../agent/components/kafka/kafka-pubsub-broker.js';
import type { BrokerDelivery, PublishMessage, SubscribeOptions } from '../../agent/components/pubsub-broker.js';
import { uniq } from '../conformance/conformance-helpers.js';
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
const AVAILABILITY_CODES = ['HEARTH_ERR_BACKEND_UNAVAILABLE', 'HEARTH_ERR_TIMEOUT'];

function theMock(): KafkaMock {
  if (!mock) throw new Error('kafka mock not started');
  return mock;
}

function makeBroker(metadata: Record<string, unknown> = {}): KafkaPubSubBroker {
  const config = componentConfig('kafka', 'pubsub.kafka', { brokers: theMock().bootstrap, idempotent: false, ...FAST_GROUPS, ...metadata });
  return new KafkaPubSubBroker(context(config, os.tmpdir()));
}

function message(topic: string, text: string): PublishMessage {
  return { topic, data: Buffer.from(text), contentType: 'text/plain', metadata: {}, key: undefined };
}

function options(topic: string): SubscribeOptions {
  return subscribeOptions(topic, uniq('app||sub'), { ackDeadlineMs: 600_000, maxDeliveryAttempts: 10 });
}

/** Publish must fail with an availability code, and within the publish timeout (plus slack). */
async function publishFails(broker: KafkaPubSubBroker, msg: PublishMessage): Promise<string> {
  try {
    await broker.publish(msg);
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'published';
}

test.serial('kafka (mock broker: idempotence off): Kafka down mid-traffic: publish fails with a coded error, health turns unhealthy; back up, the same instance recovers, nothing acked is redelivered, nothing unacked is lost', async (t) => {
  const broker = makeBroker();
  await broker.start();
  try {
    const topic = uniq('outage');
    const got: BrokerDelivery[] = [];
    const sub = await broker.subscribe(options(topic), (d) => got.push(d));
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) sent.push(await broker.publish(message(topic, `m${i}`)));
    await waitFor('the first five', () => got.length >= 5, { timeoutMs: 20_000, everyMs: 10 });
    const text = (d: BrokerDelivery): string => d.data.toString();
    const first = (name: string): BrokerDelivery | undefined => got.find((d) => text(d) === name);
    await sub.ack(first('m0')?.deliveryId ?? '');
    await sub.ack(first('m1')?.deliveryId ?? '');
    t.true(broker.health().healthy);

    await theMock().down();
    // Acks are recorded locally while Kafka is away and committed once it is back.
    await sub.ack(first('m2')?.deliveryId ?? '');
    t.true(AVAILABILITY_CODES.includes(await publishFails(broker, message(topic, 'lost'))));
    await waitFor('health to turn unhealthy', () => !broker.health().healthy, { timeoutMs: 30_000, everyMs: 10 });
    t.regex(broker.health().detail ?? '', /unavailable|crash|connect|ECONNREFUSED/i);
    // Fails fast now that the outage is known.
    t.true(AVAILABILITY_CODES.includes(await publishFails(broker, message(topic, 'lost'))));

    await theMock().up();
    await waitFor('health to recover', () => broker.health().healthy, { timeoutMs: 60_000, everyMs: 10 });
    let after = '';
    await waitFor('publishing to work again', async () => {
      after = await broker.publish(message(topic, 'after')).catch(() => '');
      return after !== '';
    }, { timeoutMs: 30_000, everyMs: 10, retryErrors: false });
    await waitFor('consuming to resume', () => got.some((d) => d.messageId === after), { timeoutMs: 60_000, everyMs: 10 });
    // m3 and m4 were never acked: still leased here or redelivered, never lost. Ack them now.
    for (const name of ['m3', 'm4']) {
      const latest = got.filter((d) => text(d) === name).at(-1);
      t.truthy(latest, `${name} delivered`);
      await sub.ack(latest?.deliveryId ?? '').catch(async () => {
        await waitFor(`${name} to come back`, () => got.filter((d) => text(d) === name).length > 1, { timeoutMs: 30_000, everyMs: 10 });
        await sub.ack(got.filter((d) => text(d) === name).at(-1)?.deliveryId ?? '');
      });
    }
    await sub.ack(got.find((d) => d.messageId === after)?.deliveryId ?? '');
    await sleep(1500);
    for (const name of ['m0', 'm1', 'm2']) t.is(got.filter((d) => text(d) === name).length, 1, `${name} (acked) delivered once`);
    t.false(got.some((d) => text(d) === 'lost'));
    t.true(sent.every((id) => got.some((d) => d.messageId === id)));
    await sub.close();
  } finally {
    await theMock().up().catch(() => undefined);
    await broker.close();
  }
});

test.serial('kafka (mock broker: idempotence off): start with Kafka down does not fail; unhealthy and failing fast until Kafka is up, then it works by itself', async (t) => {
  await theMock().down();
  const broker = makeBroker();
  try {
    await broker.start();
    t.false(broker.health().healthy);
    const topic = uniq('late');
    t.true(AVAILABILITY_CODES.includes(await publishFails(broker, message(topic, 'early'))));
    // A subscribe cannot fix where the group starts without Kafka: it fails, bounded.
    const quick = makeBroker({ subscribeTimeoutMs: 1000 });
    await quick.start();
    await t.throwsAsync(quick.subscribe(options(topic), () => undefined), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
    await quick.close();

    await theMock().up();
    await waitFor('health to recover', () => broker.health().healthy, { timeoutMs: 60_000, everyMs: 10 });
    const got: BrokerDelivery[] = [];
    const sub = await broker.subscribe(options(topic), (d) => got.push(d));
    const id = await broker.publish(message(topic, 'works'));
    await waitFor('the message', () => got.some((d) => d.messageId === id), { timeoutMs: 20_000, everyMs: 10 });
    await sub.ack(got[0]?.deliveryId ?? '');
    await sub.close();
  } finally {
    await theMock().up().catch(() => undefined);
    await broker.close();
  }
});

test.serial('kafka (mock broker: idempotence off): a slow Kafka: publish is bounded by publishTimeoutMs and fails with TIMEOUT', async (t) => {
  const broker = makeBroker({ publishTimeoutMs: 300 });
  await broker.start();
  try {
    const topic = uniq('slow');
    await broker.publish(message(topic, 'warm-up'));
    await theMock().rtt(2000);
    await t.throwsAsync(broker.publish(message(topic, 'slow')), { code: 'HEARTH_ERR_TIMEOUT' });
    await theMock().rtt(0);
    await waitFor('publishing to recover', async () => (await broker.publish(message(topic, 'fast')).then(() => true, () => false)), { timeoutMs: 30_000, everyMs: 10, retryErrors: false });
    t.pass();
  } finally {
    await theMock().rtt(0).catch(() => undefined);
    await broker.close();
  }
});
