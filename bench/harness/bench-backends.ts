// The real backends behind the Redis and Kafka rows (issue #4): a redis-server and librdkafka's
// mock Kafka cluster, started with the very helpers the component tests use (test/helpers/; the
// bench tsconfig compiles test/ too), so the bench and the tests agree on how these servers run.
// Each is registered on the cleanup stack, and its process is sampled like any server under test.
import { readFileSync } from 'node:fs';
import { KafkaMock } from '../../test/helpers/kafka-mock.js';
import { RedisServer } from '../../test/helpers/redis-server.js';
import type { CleanupStack } from './cleanup-stack.js';
import { childPids } from './proc-usage.js';
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

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * The helpers keep their child process private: find it among this process's children by its
 * command line (redis-server retitles itself `redis-server 127.0.0.1:<port>`).
 */
function ownChildPid(what: string, matches: (cmd: string) => boolean): number {
  const pid = childPids(process.pid).find((p) => matches(cmdline(p)));
  if (pid === undefined) throw new Error(`${what} started, but no child process of the bench looks like it`);
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
    const pid = ownChildPid('redis-server', (cmd) => cmd.startsWith('redis-server') && cmd.includes(`:${server.port}`));
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
    const pid = ownChildPid('kafka mock cluster', (cmd) => cmd.includes('hearth-kafka-mock'));
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
