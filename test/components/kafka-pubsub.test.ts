// pubsub.kafka against a real Kafka wire-protocol broker (librdkafka's mock cluster, see
// test/helpers/kafka-mock.ts): the shared conformance suite, then what is specific to Kafka.
// The mock cannot serve InitProducerId, so every broker here runs with idempotence off and the
// test names say so. Short session/heartbeat/fetch-wait settings keep group joins quick.
import os from 'node:os';
import test from 'ava';
import { KafkaPubSubBroker } from '../../agent/components/kafka/kafka-pubsub-broker.js';
import { pubsubConformance } from '../conformance/pubsub-conformance.js';
import { KafkaMock } from '../helpers/kafka-mock.js';
import { componentConfig, context } from './component-helpers.js';

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
