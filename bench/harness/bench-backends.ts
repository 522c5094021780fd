// The real backends behind the Redis and Kafka rows (issue #4): a redis-server and librdkafka's
// mock Kafka cluster, started with the very helpers the component tests use (test/support/), so
// the bench and the tests agree on how these servers run.
// Each is registered on the cleanup stack, and its process is sampled like any server under test.
import { KafkaMock } from '../../test/support/kafka-mock.js';
import { RedisServer } from '../../test/support/redis-server.js';
import type { CleanupStack } from './cleanup-stack.js';
import type { ServerUnderTest } from './usage-monitor.js';

export interface RedisBackend extends ServerUnderTest {
  /** `redis://127.0.0.1:<port>`, for Hearth's metadata and the direct client alike. */
  readonly url: string;
  stop(): Promise<void>;
}

export interface KafkaBackend extends ServerUnderTest {
  readonly brokers: string[];
  /** Creates `name` with one partition, once (later calls for the same name do nothing). */
  topic(name: string): Promise<void>;
  stop(): Promise<void>;
}


function pidOf(what: string, pid: number | undefined): number {
  if (pid === undefined) throw new Error(`${what} started, but has no running process`);
  return pid;
}

function sampled(label: string, pid: number): ServerUnderTest {
  return { label, rootPid: pid, pids: () => [pid], workerPids: () => [pid] };
}

/** A server whose CPU and RSS columns also cover `backend`: Hearth and the store it talks to. */
export function alongside<T extends ServerUnderTest>(server: T, backend: ServerUnderTest): ServerUnderTest {
  return {
    label: `${server.label} + ${backend.label}`,
    rootPid: server.rootPid,
    pids: () => [...server.pids(), ...backend.pids()],
    workerPids: () => server.workerPids(),
  };
}

export async function startRedis(cleanup: CleanupStack): Promise<RedisBackend> {
  const server = await RedisServer.start();
  const unregister = cleanup.add('redis-server', () => server.close());
  try {
    const pid = pidOf('redis-server', server.pid);
    return {
      ...sampled('redis-server', pid),
      url: server.url,
      stop: async () => {
        unregister();
        await server.close();
      },
    };
  } catch (err) {
    unregister();
    await server.close();
    throw err;
  }
}

export async function startKafka(cleanup: CleanupStack): Promise<KafkaBackend> {
  const mock = await KafkaMock.start();
  const unregister = cleanup.add('kafka mock cluster', () => mock.close());
  const created = new Map<string, Promise<void>>();
  try {
    const pid = pidOf('kafka mock cluster', mock.pid);
    return {
      ...sampled('kafka mock', pid),
      brokers: mock.brokers,
      topic: (name) => {
        let done = created.get(name);
        if (done === undefined) {
          done = mock.createTopic(name, 1);
          created.set(name, done);
        }
        return done;
      },
      stop: async () => {
        unregister();
        await mock.close();
      },
    };
  } catch (err) {
    unregister();
    await mock.close();
    throw err;
  }
}
