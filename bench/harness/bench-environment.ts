// The servers a run shares between scenarios, started on first use and stopped at the end: the
// baselines, one long-lived Hearth for the load rows, for the Redis and Kafka rows a
// redis-server, the mock Kafka cluster and a second Hearth configured with them, for the invoke
// rows two sibling agents with their callee apps (invokeMesh()), and for the anchors the Node
// relay and the two HAProxy hops (nodeRelay(), haproxyChain()). Scenarios that
// need a fresh agent (idle memory) start their own with startHearth(). With a profile directory,
// the shared Hearths run under `node --cpu-prof` (the cluster passes execArgv on to its workers).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { summarizeCpuProfile, type ProfileSummary, type TimeWindow } from '../report/cpu-profile-summary.js';
import type { BaselineKind } from '../servers/baseline-server.js';
import { startBaseline, type BaselineProcess } from './baseline-process.js';
import { startKafka, startRedis, type KafkaBackend, type RedisBackend } from './bench-backends.js';
import { startCallee, type CalleeProcess } from './callee-process.js';
import type { CleanupStack } from './cleanup-stack.js';
import { startHaproxyChain, type HaproxyChain } from './haproxy-chain.js';
import { startHearth, type HearthComponent, type HearthInstance } from './hearth-instance.js';
import { startNodeRelay, type NodeRelay } from './node-relay.js';
import { repoRoot } from '../../test/support/repo-root.js';
import { MESH_APPS, startTwoAgents, type TwoAgents } from './two-agents.js';

/** Two sibling agents, app b's callee on host 2 and app c's on host 1 (scenarios/invoke.ts). */
export interface InvokeMesh {
  readonly agents: TwoAgents;
  readonly remoteCallee: CalleeProcess;
  readonly localCallee: CalleeProcess;
  /** How the callees hold their AppCallback stream: wire when the agent serves wire.sock. */
  readonly calleeTransport: 'wire' | 'grpc';
  /** App d's own HTTP server on host 2 (an echo), reached through its app channel. */
  readonly channelServer: BaselineProcess;
}

export class BenchEnvironment {
  readonly #cleanup: CleanupStack;
  readonly #profileDir: string | null;
  readonly #baselines = new Map<BaselineKind, Promise<BaselineProcess>>();
  #hearth: Promise<HearthInstance> | null = null;
  #redis: Promise<RedisBackend> | null = null;
  #kafka: Promise<KafkaBackend> | null = null;
  #hearthBackends: Promise<HearthInstance> | null = null;
  #invokeMesh: Promise<InvokeMesh> | null = null;
  #nodeRelay: Promise<NodeRelay> | null = null;
  #haproxyChain: Promise<HaproxyChain> | null = null;
  readonly #log: (message: string) => void;
  /** Root pid → role, for naming the CPU profiles of the shared Hearths. */
  readonly #hearthRoles = new Map<number, string>();

  constructor(cleanup: CleanupStack, profileDir: string | null = null, log: (message: string) => void = () => undefined) {
    this.#cleanup = cleanup;
    this.#profileDir = profileDir;
    this.#log = log;
  }

  baseline(kind: BaselineKind): Promise<BaselineProcess> {
    let started = this.#baselines.get(kind);
    if (started === undefined) {
      started = startBaseline(kind, this.#cleanup);
      this.#baselines.set(kind, started);
    }
    return started;
  }

  /** The shared Hearth; a failed start is remembered (every Hearth row reports the same error). */
  hearth(): Promise<HearthInstance> {
    this.#hearth ??= this.#startShared('ops-agent', []);
    return this.#hearth;
  }

  redis(): Promise<RedisBackend> {
    this.#redis ??= startRedis(this.#cleanup);
    return this.#redis;
  }

  kafka(): Promise<KafkaBackend> {
    this.#kafka ??= startKafka(this.#cleanup);
    return this.#kafka;
  }

  /**
   * The shared Hearth of the Redis and Kafka rows: the SQLite defaults plus a state store `redis`
   * (state.redis) and a pubsub `kafka` (pubsub.kafka) on the bench's own servers. Idempotence is
   * off because the mock cluster cannot serve InitProducerId (issue #4). Like hearth(), a failed
   * start — say, a component type this build does not register — fails every row that uses it.
   */
  hearthBackends(): Promise<HearthInstance> {
    this.#hearthBackends ??= (async () => {
      const [redis, kafka] = await Promise.all([this.redis(), this.kafka()]);
      return this.#startShared('ops-agent (Redis/Kafka)', [
        { name: 'redis', type: 'state.redis', metadata: { url: redis.url } },
        { name: 'kafka', type: 'pubsub.kafka', metadata: { brokers: kafka.brokers.join(','), idempotent: false } },
      ]);
    })();
    return this.#hearthBackends;
  }

  /**
   * The invoke rows' two agents and callee apps. The callees use the wire transport when the agent
   * serves wire.sock, gRPC otherwise (either way they are app instances on an AppCallback stream).
   * With a profile directory both agents run under `node --cpu-prof` too.
   */
  invokeMesh(): Promise<InvokeMesh> {
    this.#invokeMesh ??= (async () => {
      const dir = this.#profileDir;
      // App d's own HTTP server (a bare node:http echo), reached through host 2's app channel.
      const channelServer = await this.baseline('http-echo');
      const agents = await startTwoAgents(this.#cleanup, {
        execArgv: dir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`],
        channelOnHost2: `unix:${channelServer.socketPath}`,
      });
      this.#hearthRoles.set(agents.host1.rootPid, 'ops-agent host-1 (invoke)');
      this.#hearthRoles.set(agents.host2.rootPid, 'ops-agent host-2 (invoke)');
      try {
        const calleeTransport = existsSync(agents.host2.socket(MESH_APPS.remote.id, 'wire')) ? 'wire' : 'grpc';
        const callee = (host: HearthInstance, app: { id: string; token: string }, label: string): Promise<CalleeProcess> => startCallee(
          { transport: calleeTransport, socketPath: host.socket(app.id, calleeTransport), token: app.token }, label, this.#cleanup, this.#log);
        const remoteCallee = await callee(agents.host2, MESH_APPS.remote, 'app b on host 2');
        const localCallee = await callee(agents.host1, MESH_APPS.local, 'app c on host 1');
        return { agents, remoteCallee, localCallee, calleeTransport, channelServer };
      } catch (err) {
        await agents.stop();
        throw err;
      }
    })();
    return this.#invokeMesh;
  }

  /** The Node relay anchor: entry and relay processes in front of the frame-echo baseline. */
  nodeRelay(): Promise<NodeRelay> {
    this.#nodeRelay ??= (async () => startNodeRelay(this.#cleanup, await this.baseline('frame-echo')))();
    return this.#nodeRelay;
  }

  /** The HAProxy anchor: two hops in front of the node:http echo baseline (haproxy must be installed). */
  haproxyChain(): Promise<HaproxyChain> {
    this.#haproxyChain ??= (async () => startHaproxyChain(this.#cleanup, (await this.baseline('http-echo')).socketPath))();
    return this.#haproxyChain;
  }

  async #startShared(role: string, components: HearthComponent[]): Promise<HearthInstance> {
    const dir = this.#profileDir;
    const hearth = await startHearth(this.#cleanup, { execArgv: dir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`], components });
    this.#hearthRoles.set(hearth.rootPid, role);
    return hearth;
  }

  async stopAll(): Promise<void> {
    // Newest first: each Hearth before the backends it talks to, the backends and the anchors'
    // proxies before the baselines behind them.
    const all: (Promise<{ stop(): Promise<void> }> | null)[] = [...this.#baselines.values(), this.#redis, this.#kafka,
      this.#hearth, this.#hearthBackends, this.#nodeRelay, this.#haproxyChain];
    this.#baselines.clear();
    const mesh = this.#invokeMesh;
    this.#hearth = null;
    this.#hearthBackends = null;
    this.#invokeMesh = null;
    this.#redis = null;
    this.#kafka = null;
    this.#nodeRelay = null;
    this.#haproxyChain = null;
    const meshStarted = await mesh?.catch(() => null);
    if (meshStarted) {
      await meshStarted.remoteCallee.stop();
      await meshStarted.localCallee.stop();
      await meshStarted.agents.stop();
    }
    for (const started of all.reverse()) {
      if (started === null) continue;
      const server = await started.catch(() => null);
      await server?.stop();
    }
  }

  /**
   * After stopAll(): the CPU profiles the shared Hearths' processes wrote as they exited, counting
   * only samples inside `windows` (the measured windows of their rows).
   */
  profiles(windows: readonly TimeWindow[]): ProfileSummary[] {
    const dir = this.#profileDir;
    if (dir === null) return [];
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    return files.map((file) => {
      // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
      const pid = Number(file.split('.')[3]);
      const role = this.#hearthRoles.get(pid) ?? 'agent worker';
      const json: unknown = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
      return summarizeCpuProfile(json, path.relative(repoRoot, path.join(dir, file)), pid, role, repoRoot, windows);
    }).sort((a, b) => b.busyMs - a.busyMs);
  }
}
