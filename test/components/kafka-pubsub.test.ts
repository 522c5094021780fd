// pubsub.kafka against a real Kafka wire-protocol broker (librdkafka's mock cluster, see
// test/helpers/kafka-mock.ts): the shared conformance suite, then what is specific to Kafka.
// The mock cannot serve InitProducerId, so every broker here runs with idempotence off and the
// test names say so. Short session/heartbeat/fetch-wait settings keep group joins quick.
import { spawn } from 'node:child_process';
import os from 'node:os';
import test from 'ava';
import { buildCloudEvent, CLOUDEVENT_CONTENT_TYPE } from '../../agent/building-blocks/cloud-event.js';
import { KafkaPubSubBroker } from '../../agent/components/kafka/kafka-pubsub-broker.js';
import { DEAD_LETTER_METADATA, type BrokerDelivery, type BrokerSubscription, type SubscribeOptions } from '../../agent/components/pubsub-broker.js';
import { uniq } from '../conformance/conformance-helpers.js';
import { pubsubConformance } from '../conformance/pubsub-conformance.js';
import { KafkaMock } from '../support/kafka-mock.js';
import { componentConfig, context } from './component-helpers.js';
import { waitFor } from '../support/wait.js';
import { subscribeOptions } from './component-helpers.js';

let mock: KafkaMock | undefined;
test.before(async () => {
  mock = await KafkaMock.start();
});
test.after.always(async () => {
  await mock?.close();
});

/** Group timings the mock accepts (its first join waits 3 s, so sessions must outlast that). */
const FAST_GROUPS = { sessionTimeoutMs: 4000, heartbeatIntervalMs: 500, fetchMaxWaitMs: 300 };

function bootstrap(): string {
  if (!mock) throw new Error('kafka mock not started');
  return mock.bootstrap;
}

function makeBroker(metadata: Record<string, unknown> = {}): KafkaPubSubBroker {
  const config = componentConfig('kafka', 'pubsub.kafka', { brokers: bootstrap(), idempotent: false, ...FAST_GROUPS, ...metadata });
  return new KafkaPubSubBroker(context(config, os.tmpdir()));
}

async function startBroker(metadata: Record<string, unknown> = {}): Promise<KafkaPubSubBroker> {
  const broker = makeBroker(metadata);
  await broker.start();
  return broker;
}

pubsubConformance(test, 'kafka (mock broker: idempotence off)', async () => {
  const broker = await startBroker();
  return { store: broker, cleanup: () => broker.close() };
});

// ---------------------------------------------------------------------------------------------
// Kafka specifics: record layout cross-checked with kcat (a client no one here wrote), partition
// keys, topic prefix, dead-letter headers, configuration errors.

interface KcatRecord {
  topic: string;
  partition: number;
  offset: number;
  headers?: string[];
  key: string | null;
  payload: string | null;
}

/** Runs kcat against the mock; stdin is `input` when given. */
function kcat(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn('kcat', ['-b', bootstrap(), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.once('error', reject);
    proc.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`kcat ${args.join(' ')} exited ${code}: ${err}`))));
    proc.stdin.end(input ?? '');
  });
}

/** Every record of a topic, read from the beginning with kcat's JSON envelope. */
async function kcatRead(topic: string): Promise<KcatRecord[]> {
  const out = await kcat(['-C', '-t', topic, '-o', 'beginning', '-e', '-J', '-q']);
  return out
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as KcatRecord);
}

function headerMap(r: KcatRecord | undefined): Record<string, string> {
  const h = r?.headers ?? [];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < h.length; i += 2) out[h[i] ?? ''] = h[i + 1] ?? '';
  return out;
}

function options(topic: string, group: string, extra: Partial<SubscribeOptions> = {}): SubscribeOptions {
  return subscribeOptions(topic, group, extra);
}

/** Subscribes and acks everything; returns what arrived. */
async function collect(broker: KafkaPubSubBroker, opts: SubscribeOptions): Promise<{ got: BrokerDelivery[]; sub: BrokerSubscription }> {
  const got: BrokerDelivery[] = [];
  // Deliveries start only after subscribe() has returned the handle.
  const sub = await broker.subscribe(opts, (d) => {
    got.push(d);
    sub.ack(d.deliveryId).catch(() => undefined);
  });
  return { got, sub };
}

test('kafka (mock broker: idempotence off): kcat reads what Hearth published: payload, key, content-type and metadata headers, message id', async (t) => {
  const broker = await startBroker();
  try {
    const topic = uniq('kc-out');
    const event = buildCloudEvent({ appId: 'demo', pubsubName: 'kafka', topic, data: Buffer.from('{"n":1}'), contentType: 'application/json', metadata: {} });
    const id1 = await broker.publish({ topic, data: event, contentType: CLOUDEVENT_CONTENT_TYPE, metadata: { traceparent: '00-abc-def-01' }, key: 'k1' });
    // Metadata named like our own headers travels escaped and comes back unchanged.
    const id2 = await broker.publish({
      topic,
      data: Buffer.from('raw bytes'),
      contentType: 'text/plain',
      metadata: { 'content-type': 'not-mine', 'hearth-message-id': 'spoof' },
      key: undefined,
    });
    let records: KcatRecord[] = [];
    await waitFor('kcat to see both records', async () => (records = await kcatRead(topic)).length >= 2, { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
    const byId = new Map(records.map((r) => [headerMap(r)['hearth-message-id'], r]));
    const ce = byId.get(id1);
    t.is(ce?.key, 'k1');
    t.is(headerMap(ce)['content-type'], 'application/cloudevents+json');
    t.is(headerMap(ce).traceparent, '00-abc-def-01');
    const envelope = JSON.parse(ce?.payload ?? '{}') as Record<string, unknown>;
    t.is(envelope.specversion, '1.0');
    t.deepEqual(envelope.data, { n: 1 });
    const raw = byId.get(id2);
    t.is(raw?.payload, 'raw bytes');
    t.is(raw?.key, null);
    t.is(headerMap(raw)['content-type'], 'text/plain');
    t.is(headerMap(raw)['hearth-md-content-type'], 'not-mine');
    t.is(headerMap(raw)['hearth-md-hearth-message-id'], 'spoof');

    // A Hearth subscriber reads the layout back: metadata (escaped keys included) as published.
    const group = uniq('g');
    const { got, sub } = await collect(broker, options(topic, group));
    try {
      const id3 = await broker.publish({ topic, data: Buffer.from('x'), contentType: 'text/plain', metadata: { 'content-type': 'not-mine', a: 'b' }, key: undefined });
      await waitFor('condition', () => got.length >= 1, { timeoutMs: 20_000, everyMs: 10 });
      t.is(got[0]?.messageId, id3);
      t.deepEqual(got[0]?.metadata, { 'content-type': 'not-mine', a: 'b' });
      t.is(got[0]?.contentType, 'text/plain');
    } finally {
      await sub.close();
    }
  } finally {
    await broker.close();
  }
});

test('kafka (mock broker: idempotence off): a record kcat produced reaches a Hearth subscriber, id from topic/partition/offset, headers as metadata', async (t) => {
  const broker = await startBroker();
  try {
    const topic = uniq('kc-in');
    const { got, sub } = await collect(broker, options(topic, uniq('g')));
    try {
      await kcat(['-P', '-t', topic, '-k', 'their-key', '-H', 'origin=kcat', '-H', 'hearth-internal=x'], 'from kcat\n');
      await waitFor('the kcat record', () => got.length >= 1, { timeoutMs: 20_000, everyMs: 10 });
      const d = got[0];
      t.is(d?.data.toString(), 'from kcat');
      t.is(d?.topic, topic);
      t.regex(d?.messageId ?? '', new RegExp(`^${topic}/\\d+/0$`));
      t.is(d?.contentType, 'application/octet-stream');
      // Headers in our own namespace are bookkeeping, never metadata.
      t.deepEqual(d?.metadata, { origin: 'kcat' });
      t.is(d?.attempt, 1);
    } finally {
      await sub.close();
    }
  } finally {
    await broker.close();
  }
});

test('kafka (mock broker: idempotence off): messages with the same key land in one partition, in publish order, and are delivered in that order', async (t) => {
  const broker = await startBroker();
  try {
    const topic = uniq('keys');
    await mock?.createTopic(topic, 3);
    const { got, sub } = await collect(broker, options(topic, uniq('g')));
    try {
      const keys = ['alpha', 'beta', 'gamma', 'delta'];
      const sent: string[] = [];
      for (let i = 0; i < 24; i++) {
        const key = keys[i % keys.length] ?? '';
        await broker.publish({ topic, data: Buffer.from(`${key}-${i}`), contentType: 'text/plain', metadata: {}, key });
        sent.push(`${key}-${i}`);
      }
      const records = await kcatRead(topic);
      t.is(records.length, sent.length);
      for (const key of keys) {
        const mine = records.filter((r) => r.key === key);
        t.is(new Set(mine.map((r) => r.partition)).size, 1, `key ${key} in one partition`);
        const inOffsetOrder = [...mine].sort((a, b) => a.offset - b.offset).map((r) => r.payload);
        t.deepEqual(inOffsetOrder, sent.filter((s) => s.startsWith(`${key}-`)), `key ${key} in publish order`);
      }
      t.true(new Set(records.map((r) => r.partition)).size > 1, 'different keys spread over partitions');
      await waitFor('every message', () => got.length >= sent.length, { timeoutMs: 20_000, everyMs: 10 });
      for (const key of keys) {
        const delivered = got.filter((d) => d.data.toString().startsWith(`${key}-`)).map((d) => d.data.toString());
        t.deepEqual(delivered, sent.filter((s) => s.startsWith(`${key}-`)), `key ${key} delivered in order`);
      }
    } finally {
      await sub.close();
    }
  } finally {
    await broker.close();
  }
});

test('kafka (mock broker: idempotence off): topicPrefix namespaces the Kafka topic; subscribers see the Hearth topic name', async (t) => {
  const broker = await startBroker({ topicPrefix: 'tenant-a.' });
  try {
    const topic = uniq('orders');
    const { got, sub } = await collect(broker, options(topic, uniq('g')));
    try {
      const id = await broker.publish({ topic, data: Buffer.from('o1'), contentType: 'text/plain', metadata: {}, key: undefined });
      await waitFor('condition', () => got.length >= 1, { timeoutMs: 20_000, everyMs: 10 });
      t.is(got[0]?.topic, topic);
      t.is(got[0]?.messageId, id);
      const records = await kcatRead(`tenant-a.${topic}`);
      t.deepEqual(records.map((r) => r.payload), ['o1']);
      await t.throwsAsync(broker.publish({ topic: 'no spaces/or slashes', data: Buffer.from('x'), contentType: 'text/plain', metadata: {}, key: undefined }), {
        code: 'HEARTH_ERR_INVALID_ARGUMENT',
      });
    } finally {
      await sub.close();
    }
  } finally {
    await broker.close();
  }
});

test('kafka (mock broker: idempotence off): a dead-lettered message carries the shared dead-letter metadata as headers and keeps its key', async (t) => {
  const broker = await startBroker();
  try {
    const topic = uniq('poison');
    const dlt = `${topic}.dead-letter`;
    const group = uniq('app||sub');
    const seen: BrokerDelivery[] = [];
    const sub = await broker.subscribe(options(topic, group, { maxDeliveryAttempts: 1, deadLetterTopic: dlt }), (d) => {
      seen.push(d);
      sub.nack(d.deliveryId, 0).catch(() => undefined);
    });
    try {
      const id = await broker.publish({ topic, data: Buffer.from('bad'), contentType: 'text/plain', metadata: { origin: 'test' }, key: 'k9' });
      let records: KcatRecord[] = [];
      await waitFor('the dead-letter record', async () => (records = await kcatRead(dlt)).length >= 1, { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
      const h = headerMap(records[0]);
      t.is(records[0]?.payload, 'bad');
      t.is(records[0]?.key, 'k9');
      t.is(h.origin, 'test');
      t.is(h[DEAD_LETTER_METADATA.originalTopic], topic);
      t.is(h[DEAD_LETTER_METADATA.originalMessageId], id);
      t.is(h[DEAD_LETTER_METADATA.attempts], '1');
      t.is(h[DEAD_LETTER_METADATA.group], group);
      t.is(seen.length, 1);
    } finally {
      await sub.close();
    }
  } finally {
    await broker.close();
  }
});

test('kafka (mock broker: idempotence ON, which it cannot serve): start does not fail, health says why, publishing fails fast with BACKEND_UNAVAILABLE', async (t) => {
  // The mock names controller 0, which is no broker, so InitProducerId cannot be sent anywhere.
  const broker = await startBroker({ idempotent: true, connectionTimeoutMs: 500 });
  try {
    await waitFor('health to explain', () => /Broker 0 not found/.test(broker.health().detail ?? ''), { timeoutMs: 20_000, everyMs: 10 });
    t.false(broker.health().healthy);
    await t.throwsAsync(broker.publish({ topic: uniq('idem'), data: Buffer.from('x'), contentType: 'text/plain', metadata: {}, key: undefined }), {
      code: 'HEARTH_ERR_BACKEND_UNAVAILABLE',
    });
  } finally {
    await broker.close();
  }
});

test('kafka: bad metadata is CONFIG_INVALID naming the key', (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ brokers: undefined }, 'metadata.brokers'],
    [{ brokers: 'localhost' }, 'metadata.brokers[0]'],
    [{ brokers: ['a:1', 42] }, 'metadata.brokers[1]'],
    [{ idempotent: 'maybe' }, 'metadata.idempotent'],
    [{ idempotent: true, acks: 1 }, 'metadata.acks'],
    [{ acks: 'some' }, 'metadata.acks'],
    [{ topicPrefix: 'a/b' }, 'metadata.topicPrefix'],
    [{ sessionTimeoutMs: 0 }, 'metadata.sessionTimeoutMs'],
    [{ heartbeatIntervalMs: 5000, sessionTimeoutMs: 4000 }, 'metadata.heartbeatIntervalMs'],
    [{ fetchMaxWaitMs: 9000, sessionTimeoutMs: 8000 }, 'metadata.fetchMaxWaitMs'],
    [{ publishTimeoutMs: 'soon' }, 'metadata.publishTimeoutMs'],
    [{ saslMechanism: 'kerberos', saslUsername: 'u', saslPassword: 'p' }, 'metadata.saslMechanism'],
    [{ saslMechanism: 'scram-sha-256', saslUsername: 'u' }, 'metadata.saslPassword'],
    [{ saslUsername: 'u' }, 'metadata.saslMechanism'],
    [{ tlsCaFile: '/nonexistent/ca.pem' }, 'metadata.tlsCaFile'],
    [{ sessionTimeout: 6000 }, 'metadata.sessionTimeout'],
  ];
  for (const [metadata, key] of cases) {
    const config = componentConfig('kafka', 'pubsub.kafka', { brokers: '127.0.0.1:9092', idempotent: false, ...metadata });
    const err = t.throws(() => new KafkaPubSubBroker(context(config, os.tmpdir())), { code: 'HEARTH_ERR_CONFIG_INVALID' }, JSON.stringify(metadata));
    t.true(err?.message.includes(`${key} `), `${err?.message ?? ''} names ${key}`);
  }
  // The defaults are valid (idempotent producer, acks from all in-sync replicas).
  t.notThrows(() => new KafkaPubSubBroker(context(componentConfig('kafka', 'pubsub.kafka', { brokers: 'a:1,b:2' }), os.tmpdir())));
});

test('kafka: operations before start or after close are BACKEND_UNAVAILABLE', async (t) => {
  const broker = makeBroker();
  const msg = { topic: 't', data: Buffer.from('x'), contentType: 'text/plain', metadata: {}, key: undefined };
  await t.throwsAsync(broker.publish(msg), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  t.false(broker.health().healthy);
  await broker.start();
  await broker.close();
  await t.throwsAsync(broker.publish(msg), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  await t.throwsAsync(broker.subscribe(options('t', 'g'), () => undefined), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  await t.throwsAsync(broker.ack('g', 'x'), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  await t.throwsAsync(broker.start(), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  t.false(broker.health().healthy);
});
