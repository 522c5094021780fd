// examples/hearth.redis-kafka.yaml run for real: `hearth start` (two workers) on a real redis-server
// and librdkafka's mock Kafka cluster. Every building block through the app API, cross-checked with
// redis-cli and kcat; then the backends fail — killed mid-traffic, and absent at start — and the
// agent answers with coded errors, shows it in /readyz and /metrics, and recovers by itself.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import type { HttpClient } from '../helpers/http-client.js';
import { KafkaMock } from '../support/kafka-mock.js';
import type { PullResult } from '../helpers/pubsub-wire.js';
import { RedisServer, requireBinary } from '../support/redis-server.js';
import { adminHandoff, pidsOf, ResubscribingConsumer } from '../helpers/upgrade-helpers.js';
import { repoRoot } from '../support/repo-root.js';
import { assertHttpError, httpClient, metricSum, parseMetrics, uniq } from './e2e-helpers.js';
import { waitFor } from '../support/wait.js';

const EXAMPLE = path.join(repoRoot, 'examples', 'hearth.redis-kafka.yaml');

let redis: RedisServer;
let kafka: KafkaMock;
let h: HearthProcess;
let c: HttpClient;

/** The example file as shipped, with only the directories moved into the test's temp dir. */
function exampleConfig(): Record<string, unknown> {
  const doc = parseYaml(readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>;
  return { ...doc, runDir: './run', stateDir: './data', logLevel: 'info' };
}

function backendEnv(): Record<string, string> {
  // The mock cluster cannot serve InitProducerId (its controller id names no broker): idempotence off.
  return { HEARTH_REDIS_URL: redis.url, HEARTH_KAFKA_BROKERS: kafka.bootstrap, HEARTH_KAFKA_IDEMPOTENT: 'false' };
}

test.before(async () => {
  redis = await RedisServer.start();
  kafka = await KafkaMock.start();
  h = await startHearth({ config: exampleConfig(), env: backendEnv() });
  c = httpClient(h, 'demo');
});
test.after.always(async () => {
  c?.close();
  await h?.stop();
  await redis?.close();
  await kafka?.close();
});

async function ready(hp: HearthProcess): Promise<{ status: number; problems: string[] }> {
  const r = await hp.admin('/readyz');
  return { status: r.status, problems: (JSON.parse(r.body) as { problems: string[] }).problems };
}

/** hearth_component_healthy summed over the workers (the ops-agent aggregates gauges by sum). */
async function healthyWorkers(hp: HearthProcess, component: string, type: string): Promise<number> {
  return metricSum(parseMetrics((await hp.admin('/metrics')).body), 'hearth_component_healthy', { component, type });
}

async function publish(client: HttpClient, topic: string, body: unknown): Promise<{ status: number; messageId: string }> {
  const res = await client.post(`/v1.0/publish/kafka/${topic}`, body);
  const id = res.headers['hearth-message-id'];
  return { status: res.status, messageId: typeof id === 'string' ? id : '' };
}

async function pull(client: HttpClient, topic: string, waitMs = 10_000): Promise<PullResult> {
  const res = await client.post(`/v1.0-hearth/subscriptions/kafka/${topic}/pull`, { max: 10, waitMs });
  if (res.status !== 200) throw new Error(`pull failed: ${res.status} ${res.text()}`);
  return res.json<PullResult>();
}

test.serial('state, lock, sequencer and configuration go to Redis under the app namespace (redis-cli sees them)', async (t) => {
  const key = uniq('order');
  t.is((await c.post('/v1.0/state/redis', [{ key, value: { total: 42 }, metadata: { ttlInSeconds: '300' } }])).status, 204);
  const got = await c.get(`/v1.0/state/redis/${key}`);
  t.is(got.status, 200);
  t.deepEqual(got.json(), { total: 42 });
  // A client no one here wrote sees the namespaced key, under the state store's own prefix, and its TTL.
  const stored = `hearth:state:redis:app:demo||${key}`;
  t.is(redis.cliRaw('KEYS', `*${key}*`).trim(), stored);
  const ttl = Number(redis.cliRaw('TTL', stored).trim());
  t.true(ttl > 0 && ttl <= 300, `TTL ${ttl}`);
  // The other app's namespace is separate.
  const other = httpClient(h, 'other');
  t.teardown(() => other.close());
  t.is((await other.get(`/v1.0/state/redis/${key}`)).status, 204);

  const resourceId = uniq('res');
  t.deepEqual((await c.post('/v1.0-alpha1/lock/redis', { resourceId, lockOwner: 'alice', expiryInSeconds: 60 })).json(), { success: true });
  t.deepEqual((await c.post('/v1.0-alpha1/lock/redis', { resourceId, lockOwner: 'bob', expiryInSeconds: 60 })).json(), { success: false });
  t.deepEqual((await c.post('/v1.0-alpha1/unlock/redis', { resourceId, lockOwner: 'alice' })).json(), { status: 0 });

  const seqKey = uniq('seq');
  const ids: bigint[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await c.post(`/v1.0-hearth/sequencer/redis/${seqKey}`);
    t.is(r.status, 200, r.text());
    ids.push(BigInt(r.json<{ nextId: string }>().nextId));
  }
  t.deepEqual(ids, [1n, 2n, 3n, 4n, 5n]);

  const item = uniq('feature');
  redis.cli('HSET', 'hearth:config:redis', item, 'on');
  const cfg = await c.get(`/v1.0/configuration/redis?key=${item}`);
  t.is(cfg.status, 200, cfg.text());
  t.is(cfg.json<Record<string, { value: string }>>()[item]?.value, 'on');
});

test.serial('publish and pull go through Kafka; kcat consumes what Hearth published (mock broker: idempotence off)', async (t) => {
  const topic = uniq('orders');
  await kafka.createTopic(topic, 3);
  // The first pull registers the subscription (consumer group); only later messages are kept for it.
  t.deepEqual((await pull(c, topic, 1)).deliveries, []);
  const sent = await publish(c, topic, { order: 7 });
  t.is(sent.status, 204);
  const received = await waitFor('the published message to be pulled', async () => {
    const r = await pull(c, topic, 2000);
    return r.deliveries.length > 0 ? r.deliveries : undefined;
  }, { timeoutMs: 60_000 });
  t.is(received[0]?.messageId, sent.messageId);
  t.is((await c.post('/v1.0-hearth/subscriptions/kafka/' + topic + '/ack', { deliveryIds: received.map((d) => d.deliveryId) })).status, 204);

  requireBinary('kcat', 'kcat');
  const kc = spawnSync('kcat', ['-b', kafka.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%s\n'], { encoding: 'utf8', timeout: 30_000 });
  t.is(kc.status, 0, kc.stderr);
  t.true(kc.stdout.includes('"order":7'), kc.stdout);
});

test.serial('a Kafka subscription across a reload: the old generation commits what was acked, the rest is redelivered, nothing is lost (mock broker: idempotence off)', async (t) => {
  const topic = uniq('across');
  await kafka.createTopic(topic, 2);
  const consumer = new ResubscribingConsumer(h, { pubsubName: 'kafka', topic, subscription: 'across', ackDeadlineMs: 5000, maxInFlight: 20 });
  t.teardown(() => consumer.stop());
  await consumer.start();
  const published: string[] = [];
  const publishSome = async (n: number, tag: string): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const r = await publish(c, topic, { tag, i });
      if (r.status !== 204) throw new Error(`publish ${tag}/${i}: ${r.status}`);
      published.push(r.messageId);
    }
  };
  await publishSome(20, 'before');
  const reload = await adminHandoff(h, 'reload');
  t.is(reload.final?.result, 'ok', JSON.stringify(reload.final));
  await publishSome(20, 'after');
  await waitFor('every published message', async () => (published.every((id) => consumer.received().has(id)) ? true : undefined), { timeoutMs: 120_000 });
  t.deepEqual(consumer.errors, []);
  t.log(`published ${published.length}, received ${consumer.received().size} distinct, ${consumer.duplicates()} duplicate deliveries`);
});

test.serial('Redis killed mid-traffic: coded errors at once, /readyz and metrics show it, recovery without a restart', async (t) => {
  const before = (await h.status()).workers.map((w) => w.pid).sort();
  await redis.stop();
  const res = await c.get(`/v1.0/state/redis/${uniq('k')}`);
  t.true(res.status === 503 || res.status === 504, res.text());
  t.true(['HEARTH_ERR_BACKEND_UNAVAILABLE', 'HEARTH_ERR_TIMEOUT'].includes(String(res.headers['hearth-error-code'])), res.text());
  assertHttpError(t, await c.post(`/v1.0-hearth/sequencer/redis/${uniq('s')}`), res.status, String(res.headers['hearth-error-code']));

  const down = await waitFor('readyz to report the Redis components', async () => {
    const r = await ready(h);
    return r.status === 503 && r.problems.some((p) => p.includes('state.redis/redis')) ? r : undefined;
  });
  t.true(down.problems.some((p) => p.includes('lock.redis/redis')));
  t.is(await healthyWorkers(h, 'redis', 'state.redis'), 0);

  await redis.restart();
  await waitFor('readyz 200 once Redis is back', async () => ((await ready(h)).status === 200 ? true : undefined), { timeoutMs: 60_000 });
  t.is(await healthyWorkers(h, 'redis', 'state.redis'), 2);
  const key = uniq('after');
  t.is((await c.post('/v1.0/state/redis', [{ key, value: 'back' }])).status, 204);
  t.deepEqual((await c.get(`/v1.0/state/redis/${key}`)).json(), 'back');
  // No worker crashed or was replaced on the way.
  t.deepEqual((await h.status()).workers.map((w) => w.pid).sort(), before);
});

test.serial('Kafka down: publish fails with a coded error, /readyz shows pubsub.kafka, and it recovers (mock broker: idempotence off)', async (t) => {
  const topic = uniq('outage');
  await kafka.createTopic(topic, 1);
  await pull(c, topic, 1);
  await kafka.down();
  const res = await c.post(`/v1.0/publish/kafka/${topic}`, { n: 1 });
  t.true(res.status === 503 || res.status === 504, res.text());
  t.true(['HEARTH_ERR_BACKEND_UNAVAILABLE', 'HEARTH_ERR_TIMEOUT'].includes(String(res.headers['hearth-error-code'])), res.text());
  await waitFor('readyz to report the Kafka component', async () => {
    const r = await ready(h);
    return r.status === 503 && r.problems.some((p) => p.includes('pubsub.kafka/kafka')) ? true : undefined;
  }, { timeoutMs: 60_000 });

  await kafka.up();
  await waitFor('readyz 200 once Kafka is back', async () => ((await ready(h)).status === 200 ? true : undefined), { timeoutMs: 90_000 });
  const sent = await waitFor('a publish to succeed again', async () => {
    const r = await publish(c, topic, { n: 2 });
    return r.status === 204 ? r : undefined;
  }, { timeoutMs: 60_000 });
  const got = await waitFor('the message published after recovery', async () => {
    const r = await pull(c, topic, 2000);
    return r.deliveries.find((d) => d.messageId === sent.messageId);
  }, { timeoutMs: 90_000 });
  t.truthy(got);
});

test.serial('a reload to a configuration whose Redis is unreachable is rolled back; the old generation keeps serving', async (t) => {
  const before = await h.status();
  const dead = await RedisServer.start();
  const deadUrl = dead.url;
  await dead.close();
  const original = readFileSync(h.configPath, 'utf8');
  const broken = exampleConfig();
  broken.components = (broken.components as { type: string; metadata?: Record<string, unknown> }[]).map((comp) =>
    comp.type === 'state.redis' ? { ...comp, metadata: { ...comp.metadata, url: deadUrl, connectTimeoutMs: 500 } } : comp,
  );
  await writeFile(h.configPath, toYaml(broken));
  try {
    const r = await adminHandoff(h, 'reload');
    t.is(r.final?.result, 'failed', JSON.stringify(r.final));
    t.is(r.final?.code, 'HEARTH_ERR_GENERATION_FAILED');
    t.regex(JSON.stringify(r.final), /state\.redis\/redis is unhealthy/);
  } finally {
    await writeFile(h.configPath, original);
  }
  const after = await h.status();
  t.is(after.generation, before.generation);
  t.deepEqual(pidsOf(after), pidsOf(before));
  const saved = await c.post('/v1.0/state/redis', [{ key: uniq('still'), value: 1 }]);
  t.is(saved.status, 204, saved.text());
});

test.serial('Redis absent at start: the agent starts, is not ready, and becomes ready when Redis appears', async (t) => {
  const late = await RedisServer.start();
  const url = late.url;
  await late.stop();
  const kafkaLate = await KafkaMock.start();
  let h2: HearthProcess | undefined;
  try {
    h2 = await startHearth({
      config: exampleConfig(),
      env: { HEARTH_REDIS_URL: url, HEARTH_KAFKA_BROKERS: kafkaLate.bootstrap, HEARTH_KAFKA_IDEMPOTENT: 'false' },
      // startHearth waits for readyz 200 by default; this one must start unready.
      readyWhen: 'serving',
    });
    const hp = h2;
    const r = await waitFor('readyz 503 naming state.redis', async () => {
      const x = await ready(hp).catch(() => undefined);
      return x?.status === 503 && x.problems.some((p) => p.includes('state.redis/redis')) ? x : undefined;
    });
    t.is(r.status, 503);
    const client = httpClient(hp, 'demo');
    t.teardown(() => client.close());
    const res = await client.get('/v1.0/state/redis/x');
    t.true(res.status === 503 || res.status === 504, res.text());
    await late.restart();
    await waitFor('readyz 200 once Redis is up', async () => ((await ready(hp)).status === 200 ? true : undefined), { timeoutMs: 60_000 });
    t.is((await client.post('/v1.0/state/redis', [{ key: 'x', value: 1 }])).status, 204);
  } finally {
    await h2?.stop();
    await late.close();
    await kafkaLate.close();
  }
});
