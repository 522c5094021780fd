// Publish of 1 KB on Kafka (issue #4): the app's own kafkajs producer (`kafka-direct`, the
// baseline) and the same publish through Hearth — gRPC PubSub/Publish to the pubsub `kafka`
// (pubsub.kafka) on the same cluster (`publish-kafka`). Both use acks from all in-sync replicas
// and one-partition topics. The cluster is librdkafka's mock, which cannot serve InitProducerId
// (its controller id 0 names no broker), so both producers run with idempotence off — the rows
// say so. Hearth publishes as an app does by default, the 1 KB wrapped in a CloudEvents envelope
// (data_base64), so the added latency includes building it. The Hearth row samples the mock broker
// too, so the CPU columns of the two differ by Hearth's own cost.
// Caveat, seen on this bench: the mock answers late once requests queue on one connection (three
// concurrent sends on one kafkajs producer take 2–55 ms, one alone 0.3 ms), and in some runs the
// direct row settles at a p50 of ~16 ms (16 connections × 1 ms between their requests) — such a run
// understates the added latency. The rounds' p50s show it; compare several rounds or runs.
import { alongside } from '../harness/bench-backends.js';
import type { Scenario } from './scenario.js';
import { PROTO_ROOT } from './state-grpc.js';

const DIRECT_TOPIC = 'bench-direct-publish';
const HEARTH_TOPIC = 'bench-publish';
const NOT_IDEMPOTENT = 'acks -1, idempotence off: the mock cluster cannot serve InitProducerId';

export const kafkaDirectScenario: Scenario = {
  kind: 'rate',
  id: 'kafka-direct',
  title: 'baseline: kafkajs producer.send straight to the mock Kafka cluster',
  requires: [],
  async rows(ctx) {
    const kafka = await ctx.env.kafka();
    await kafka.topic(DIRECT_TOPIC);
    return [{
      server: kafka,
      target: { kind: 'kafka-direct', brokers: kafka.brokers, topic: DIRECT_TOPIC, payloadBytes: ctx.settings.payloadBytes },
      meta: {
        id: 'kafka-direct-publish',
        scenario: `baseline: kafkajs producer.send 1 KB, direct to the librdkafka mock cluster (${NOT_IDEMPOTENT})`,
        transport: 'TCP',
        baselineId: null,
      },
    }];
  },
};

export const publishKafkaScenario: Scenario = {
  kind: 'rate',
  id: 'publish-kafka',
  title: 'Hearth publish on Kafka vs direct kafkajs (librdkafka mock cluster)',
  requires: ['kafka-direct'],
  async rows(ctx) {
    const [hearth, kafka] = await Promise.all([ctx.env.hearthBackends(), ctx.env.kafka()]);
    await kafka.topic(HEARTH_TOPIC);
    return [{
      server: alongside(hearth, kafka),
      target: {
        kind: 'hearth-grpc', op: 'publish', pubsubName: 'kafka', topic: HEARTH_TOPIC, socketPath: hearth.grpcSocket, protoRoot: PROTO_ROOT,
        token: hearth.token, payloadBytes: ctx.settings.payloadBytes,
      },
      meta: {
        id: 'hearth-kafka-publish',
        scenario: `Hearth publish 1 KB in the default CloudEvents envelope (Kafka, librdkafka mock cluster; ${NOT_IDEMPOTENT})`,
        transport: 'gRPC',
        baselineId: 'kafka-direct-publish',
      },
    }];
  },
};
