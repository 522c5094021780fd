// One kafkajs consumer per (Hearth group, topic) per process, shared by every local subscriber and
// pull of that group: a second kafkajs consumer in the same process would only add rebalances.
// This file is the Kafka half (join, offsets, commits, pause/resume, crashes); GroupDispatcher is
// the local half (leases).
//
// Key decisions:
// - autoCommit is off. After each join the assigned partitions are paused before kafkajs fetches
//   anything, their committed offsets and ledgers are read, and only then are they positioned
//   (seek) and resumed. A partition this consumer still holds from before (same committed offset
//   as it last saw) keeps its local state, so a rebalance or a Kafka outage does not redeliver
//   what was acked meanwhile; any other partition starts from what Kafka has committed.
// - A group starts at its first subscribe: a partition with no committed offset is pinned at its
//   current end and that offset is committed before it is fetched, and whenStarted() resolves
//   only once every partition of the topic has a committed offset. So a message published after
//   subscribe() returned is never skipped, whichever worker ends up owning its partition.
// - Commits (kafka-offsets.ts) are requested after every change and coalesced.
import { randomBytes } from 'node:crypto';
import type { Admin, Consumer, ConsumerCrashEvent, ConsumerGroupJoinEvent, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { HearthError } from '../../errors/hearth-error.js';
import type { BrokerDelivery, SubscribeOptions } from '../pubsub-broker.js';
import { GroupDispatcher, type DispatcherHooks } from './kafka-dispatcher.js';
import { kafkaErrorText } from './kafka-errors.js';
import { kafkaGroupId } from './kafka-message.js';
import { CLIENT_RETRY, type KafkaOptions } from './kafka-options.js';
import { GroupCommitter, readCommitted, readEnds } from './kafka-offsets.js';
import { PartitionState, parseLedger } from './kafka-partition.js';

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;
const START_POLL_MS = 250;

type Phase = 'running' | 'stopping' | 'stopped';

export interface GroupConsumerDeps {
  readonly kafka: Kafka;
  /** The component's admin client, connected. */
  readonly admin: () => Promise<Admin>;
  readonly options: KafkaOptions;
  readonly kafkaTopic: string;
  readonly name: string;
  readonly logger: Logger;
  readonly deadLetter: DispatcherHooks['deadLetter'];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());
const backoff = (attempt: number): number => Math.min(RETRY_MIN_MS * 2 ** attempt, RETRY_MAX_MS);

export class GroupConsumer {
  readonly nonce = randomBytes(4).toString('hex');
  readonly groupId: string;
  readonly dispatcher: GroupDispatcher;
  /** When a pull last used this consumer (ms); pull-only consumers stop after a long idle time. */
  lastPullAt = 0;
  private readonly logger: Logger;
  private consumer: Consumer | undefined;
  private phase: Phase = 'running';
  /** Local count of joins: a reconcile started for an older join gives up. */
  private generation = 0;
  private epochs = 0;
  private joined = false;
  /** Crashes since the last successful join (restart backoff). */
  private crashes = 0;
  private problem: string | undefined;
  private readonly paused = new Set<number>();
  private startFixed = false;
  private readonly startWaiters = new Set<() => void>();
  private readonly committer: GroupCommitter;
  private commitRetry: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly deps: GroupConsumerDeps,
    options: SubscribeOptions,
  ) {
    this.groupId = kafkaGroupId(options.group, deps.kafkaTopic);
    this.logger = deps.logger.child({ group: options.group, topic: options.topic, groupId: this.groupId });
    this.dispatcher = new GroupDispatcher(
      this.nonce,
      options,
      { onChange: () => this.onChange(), deadLetter: deps.deadLetter },
      this.logger,
    );
    this.committer = new GroupCommitter(deps.kafkaTopic, this.dispatcher.partitions, () => (this.joined ? this.consumer : undefined), this.logger);
  }

  get group(): string {
    return this.dispatcher.group;
  }

  /** Starts connecting and joining in the background (retried until stop). */
  start(): void {
    void this.connectLoop();
  }

  /** Undefined when fine; otherwise why this consumer cannot consume right now. */
  health(): string | undefined {
    return this.problem;
  }

  /**
   * Resolves once every partition of the topic has a committed offset for the group, i.e. the
   * group's start is fixed in Kafka (at once for a group that existed before).
   */
  async whenStarted(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    if (this.phase !== 'running') throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `subscription to "${this.dispatcher.options.topic}" closed`);
    while (!this.startFixed) {
      if (this.phase !== 'running') throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `subscription to "${this.dispatcher.options.topic}" closed`);
      try {
        const committed = await readCommitted(await this.deps.admin(), this.groupId, this.deps.kafkaTopic);
        if (committed.size > 0 && [...committed.values()].every((c) => c.offset >= 0)) {
          this.startFixed = true;
          break;
        }
      } catch (err) {
        last = err;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const why = this.problem ?? (last ? kafkaErrorText(last) : 'the consumer group did not start in time');
        throw new HearthError(
          'HEARTH_ERR_BACKEND_UNAVAILABLE',
          `component "${this.deps.name}": cannot start consumer group for topic "${this.dispatcher.options.topic}": ${why}`,
        );
      }
      await this.waitStartEvent(Math.min(START_POLL_MS, left));
    }
  }

  /** Graceful: leases go back, what is acked (and the ledger) is committed, the group is left. */
  stop(waitMs: number): Promise<void> {
    this.stopping ??= (async () => {
      this.phase = 'stopping';
      this.wakeStartWaiters();
      const deadline = sleep(waitMs);
      try {
        this.dispatcher.releaseAll();
        if (this.joined) await Promise.race([this.committer.commit(), deadline]);
        await Promise.race([this.consumer?.disconnect().catch((err: unknown) => this.logger.debug({ err }, 'disconnect failed')), deadline]);
      } finally {
        this.shutdown();
      }
    })();
    return this.stopping;
  }

  /** Immediate: no commit; Kafka redelivers whatever was not committed to the group. */
  destroy(): void {
    if (this.phase === 'stopped') return;
    this.shutdown();
    this.consumer?.disconnect().catch(() => undefined);
  }

  ack(deliveryId: string): void {
    this.dispatcher.ack(deliveryId);
  }

  nack(deliveryId: string, delayMs: number): void {
    this.dispatcher.nack(deliveryId, delayMs);
  }

  /** Claims up to max ready messages, waiting up to waitMs for the first. */
  async pull(options: SubscribeOptions, max: number, waitMs: number, maxBytes = Infinity): Promise<BrokerDelivery[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const got = this.dispatcher.take(max, options, maxBytes);
      const left = deadline - Date.now();
      if (got.length > 0 || left <= 0 || this.phase !== 'running') return got;
      await this.dispatcher.waitReady(left);
    }
  }

  private shutdown(): void {
    this.phase = 'stopped';
    this.joined = false;
    if (this.commitRetry) clearTimeout(this.commitRetry);
    this.dispatcher.close();
    this.wakeStartWaiters();
  }

  private async connectLoop(): Promise<void> {
    for (let attempt = 0; this.phase === 'running'; attempt++) {
      const consumer = this.createConsumer();
      try {
        await consumer.connect();
        await consumer.subscribe({ topic: this.deps.kafkaTopic, fromBeginning: true });
        if (this.phase !== 'running') {
          await consumer.disconnect();
          return;
        }
        this.consumer = consumer;
        // Resolves after the first join attempt; later failures go through the crash event.
        await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, eachBatch: (payload) => this.eachBatch(payload) });
        return;
      } catch (err) {
        this.problem = `cannot connect: ${kafkaErrorText(err)}`;
        this.logger.debug({ err }, 'consumer connect failed; retrying');
        await consumer.disconnect().catch(() => undefined);
        await sleep(backoff(attempt));
      }
    }
  }

  private createConsumer(): Consumer {
    const o = this.deps.options;
    const consumer = this.deps.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      maxWaitTimeInMs: o.fetchMaxWaitMs,
      allowAutoTopicCreation: o.allowAutoTopicCreation,
      retry: {
        ...CLIENT_RETRY,
        retries: 3,
        maxRetryTime: 2000,
        // kafkajs restarts a crashed consumer after this resolves: back off while Kafka stays away.
        restartOnFailure: async () => {
          await sleep(backoff(this.crashes++));
          return this.phase === 'running';
        },
      },
    });
    consumer.on(consumer.events.GROUP_JOIN, (e: ConsumerGroupJoinEvent) => this.onJoin(e.payload.memberAssignment[this.deps.kafkaTopic] ?? []));
    consumer.on(consumer.events.COMMIT_OFFSETS, this.committer.onCommitted);
    consumer.on(consumer.events.CRASH, (e: ConsumerCrashEvent) => this.onCrash(consumer, e.payload.error, e.payload.restart));
    return consumer;
  }

  private onJoin(assigned: number[]): void {
    const generation = ++this.generation;
    this.joined = true;
    this.crashes = 0;
    this.problem = undefined;
    const mine = new Set(assigned);
    for (const p of [...this.dispatcher.partitions.keys()]) {
      if (!mine.has(p)) this.dispatcher.dropPartition(p);
    }
    for (const st of this.dispatcher.partitions.values()) st.active = false;
    // Synchronous, inside the join: kafkajs must not fetch before the positions are decided.
    this.paused.clear();
    if (assigned.length > 0) this.kafkaPauseResume('pause', assigned);
    for (const p of assigned) this.paused.add(p);
    this.logger.debug({ assigned }, 'joined the consumer group');
    void this.reconcile(generation, assigned);
  }

  private onCrash(consumer: Consumer, error: Error, restart: boolean): void {
    this.joined = false;
    for (const st of this.dispatcher.partitions.values()) st.active = false;
    if (this.phase !== 'running') return;
    // One warning per outage; the restarts while Kafka stays away are debug detail.
    if (this.problem === undefined) this.logger.warn({ err: error, restart }, 'Kafka consumer crashed; restarting');
    else this.logger.debug({ err: error, restart }, 'Kafka consumer crashed again');
    this.problem = `consumer crashed (${kafkaErrorText(error)}); restarting`;
    if (!restart) {
      // kafkajs gives up on errors it deems fatal; a new consumer retries for as long as we run.
      this.consumer = undefined;
      void (async () => {
        await consumer.disconnect().catch(() => undefined);
        await sleep(RETRY_MAX_MS);
        if (this.phase === 'running') await this.connectLoop();
      })();
    }
  }

  /** Decides each newly assigned partition's position, commits new starts, then resumes. */
  private async reconcile(generation: number, assigned: number[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (generation !== this.generation || this.phase !== 'running') return;
      try {
        const committed = await readCommitted(await this.deps.admin(), this.groupId, this.deps.kafkaTopic);
        let latest: Map<number, number> | undefined;
        for (const p of assigned) {
          const c = committed.get(p) ?? { offset: -1, metadata: null };
          const st = this.dispatcher.partitions.get(p);
          // Still ours since we last saw it: keep what was acked and leased meanwhile.
          if (st && (st.committed?.offset ?? -1) === c.offset) continue;
          if (st) {
            this.logger.debug({ partition: p, committed: c.offset }, 'partition was committed elsewhere; starting over from Kafka');
            this.dispatcher.dropPartition(p);
          }
          let fresh: PartitionState;
          if (c.offset >= 0) {
            fresh = new PartitionState(p, ++this.epochs, c.offset, parseLedger(c.metadata, c.offset));
            fresh.committed = { offset: c.offset, ledger: c.metadata ?? '' };
          } else {
            latest ??= await readEnds(await this.deps.admin(), this.deps.kafkaTopic);
            fresh = new PartitionState(p, ++this.epochs, latest.get(p) ?? 0);
          }
          this.dispatcher.partitions.set(p, fresh);
        }
        if (generation !== this.generation) return;
        // A new group's start must be in Kafka before anything is fetched (see the header).
        const unpinned = assigned.some((p) => this.dispatcher.partitions.get(p)?.committed === undefined);
        if (unpinned && !(await this.committer.commit())) throw new Error('committing the start offsets failed');
        if (generation !== this.generation || this.phase !== 'running') return;
        for (const p of assigned) {
          const st = this.dispatcher.partitions.get(p);
          if (!st) continue;
          st.active = true;
          this.seek(p, st.fetchedThrough);
        }
        this.wakeStartWaiters();
        this.dispatcher.dispatch();
        return;
      } catch (err) {
        this.logger.debug({ err, attempt }, 'positioning assigned partitions failed; retrying');
        await sleep(backoff(attempt));
      }
    }
  }

  private async eachBatch({ batch }: EachBatchPayload): Promise<void> {
    const st = this.dispatcher.partitions.get(batch.partition);
    // Not positioned yet (or revoked): ignore; the partition is sought explicitly when activated.
    if (!st?.active || this.phase !== 'running') return;
    for (const record of batch.messages) st.add(record);
    st.skipTo(Number(batch.lastOffset()) + 1);
    this.dispatcher.dispatch();
  }

  private onChange(): void {
    if (this.phase !== 'running') return;
    this.updatePauses();
    for (const st of this.dispatcher.partitions.values()) {
      if (st.active && st.dirty) {
        this.requestCommit();
        return;
      }
    }
  }

  private updatePauses(): void {
    for (const st of this.dispatcher.partitions.values()) {
      if (!st.active) continue;
      const want = this.dispatcher.wantsPause(st);
      if (want === this.paused.has(st.partition)) continue;
      if (this.kafkaPauseResume(want ? 'pause' : 'resume', [st.partition])) {
        if (want) this.paused.add(st.partition);
        else this.paused.delete(st.partition);
      }
    }
  }

  private seek(partition: number, offset: number): void {
    try {
      this.consumer?.seek({ topic: this.deps.kafkaTopic, partition, offset: String(offset) });
    } catch (err) {
      // A crash between join and here: the next join positions the partition again.
      this.logger.debug({ err, partition }, 'seek skipped');
    }
  }

  private kafkaPauseResume(what: 'pause' | 'resume', partitions: number[]): boolean {
    try {
      this.consumer?.[what]([{ topic: this.deps.kafkaTopic, partitions }]);
      return this.consumer !== undefined;
    } catch (err) {
      // Between a crash and the restart kafkajs has no consumer group to pause; the next join pauses.
      this.logger.debug({ err, what, partitions }, 'pause/resume skipped');
      return false;
    }
  }

  private requestCommit(): void {
    this.committer.commit().then(
      (ok) => {
        if (!ok && this.phase === 'running' && !this.commitRetry) {
          this.commitRetry = setTimeout(() => {
            this.commitRetry = undefined;
            this.onChange();
          }, RETRY_MAX_MS);
          this.commitRetry.unref();
        }
      },
      (err: unknown) => this.logger.debug({ err }, 'commit failed'),
    );
  }

  private waitStartEvent(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.startWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.startWaiters.add(done);
    });
  }

  private wakeStartWaiters(): void {
    const waiters = [...this.startWaiters];
    this.startWaiters.clear();
    for (const w of waiters) w();
  }
}
