// Baseline for the Kafka publish row: the app's own kafkajs producer, one per bench connection,
// sending each 1 KB message with acks from all in-sync replicas (-1) to the same cluster and a
// topic created like Hearth's. Idempotence is off, as in the Hearth component under the bench:
// librdkafka's mock cluster names controller id 0, which is no broker, so InitProducerId fails.
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { errorOf, inBatches, once, type BenchClient, type Done } from './bench-client.js';

/** pubsub.kafka's producer retries (agent/components/kafka/kafka-options.ts CLIENT_RETRY). */
const RETRY = { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 };

export interface KafkaDirectTarget {
  brokers: string[];
  topic: string;
  payloadBytes: number;
}

export async function openKafkaDirectClient(target: KafkaDirectTarget, connections: number): Promise<BenchClient> {
  // Errors reach the row through the rejected send(); kafkajs's own log would only repeat them.
  const kafka = new Kafka({ clientId: 'hearth-bench-direct', brokers: target.brokers, logLevel: logLevel.NOTHING });
  const producers: Producer[] = [];
  const disconnectAll = (): Promise<unknown> => Promise.allSettled(producers.map((p) => p.disconnect()));
  const messages = [{ value: Buffer.alloc(target.payloadBytes, 0x61) }];
  try {
    await inBatches(connections, 16, async (i) => {
      const producer = kafka.producer({
        idempotent: false, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, retry: RETRY,
      });
      producers[i] = producer;
      await producer.connect();
      // One message each before timing starts: the topic's metadata is fetched on first use.
      await producer.send({ topic: target.topic, acks: -1, messages });
    });
  } catch (err) {
    await disconnectAll();
    throw err;
  }
  return {
    connections,
    send(connection: number, done: Done) {
      const producer = producers[connection % connections];
      if (producer === undefined) {
        done(new Error(`no connection ${connection}`));
        return;
      }
      const finish = once(done);
      producer.send({ topic: target.topic, acks: -1, messages }).then(
        (records) => finish(records.length > 0 ? null : new Error('send acknowledged no record')),
        (err: unknown) => finish(errorOf(err)),
      );
    },
    async close() {
      await disconnectAll();
    },
  };
}
