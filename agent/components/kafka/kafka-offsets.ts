// A group's offsets in Kafka: what is committed (with each partition's ledger), where each
// partition ends, and committing. Commits are coalesced (one in flight; every request made
// meanwhile shares the next one) and only believed when kafkajs reports them: its
// commitOffsets resolves without doing anything while the consumer is not running.
import type { Admin, Consumer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Commit, PartitionState } from './kafka-partition.js';

export interface CommittedOffset {
  /** -1: nothing committed for this group and partition. */
  readonly offset: number;
  readonly metadata: string | null;
}

/** Committed offsets (and their metadata) of `groupId` for every partition of `topic`. */
export async function readCommitted(admin: Admin, groupId: string, topic: string): Promise<Map<number, CommittedOffset>> {
  const topics = await admin.fetchOffsets({ groupId, topics: [topic] });
  const out = new Map<number, CommittedOffset>();
  for (const t of topics) {
    if (t.topic !== topic) continue;
    for (const p of t.partitions) out.set(p.partition, { offset: Number(p.offset), metadata: p.metadata });
  }
  return out;
}

/** The offset the next message of each partition of `topic` will get. */
export async function readEnds(admin: Admin, topic: string): Promise<Map<number, number>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
}

export class GroupCommitter {
  private events = 0;
  private pending: Promise<boolean> | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly topic: string,
    private readonly partitions: ReadonlyMap<number, PartitionState>,
    /** The kafkajs consumer when it is joined to the group, else undefined. */
    private readonly member: () => Consumer | undefined,
    private readonly logger: Logger,
  ) {}

  /** Wire to the consumer's COMMIT_OFFSETS event. */
  readonly onCommitted = (): void => {
    this.events++;
  };

  /** Commits every partition whose offset or ledger changed. True when nothing is left to commit. */
  commit(): Promise<boolean> {
    if (this.pending) return this.pending;
    const next = this.tail.then(() => {
      this.pending = undefined;
      return this.commitOnce();
    });
    this.pending = next;
    this.tail = next.catch(() => false);
    return next;
  }

  private async commitOnce(): Promise<boolean> {
    const wanted: { st: PartitionState; commit: Commit }[] = [];
    for (const st of this.partitions.values()) {
      // Not yet reconciled after a (re)join: another worker may have owned it and committed further
      // meanwhile; committing our old position would move the group backwards. Stays dirty.
      if (!st.active && st.committed !== undefined) continue;
      // A partition never committed yet is a new group's start: it must reach Kafka.
      if (!st.dirty && st.committed !== undefined) continue;
      st.dirty = false;
      const commit = st.wantedCommit();
      if (commit) wanted.push({ st, commit });
    }
    if (wanted.length === 0) return true;
    const failed = (): false => {
      for (const { st } of wanted) st.dirty = true;
      return false;
    };
    const consumer = this.member();
    if (!consumer) return failed();
    const before = this.events;
    try {
      await consumer.commitOffsets(
        wanted.map(({ st, commit }) => ({ topic: this.topic, partition: st.partition, offset: String(commit.offset), metadata: commit.ledger })),
      );
    } catch (err) {
      this.logger.debug({ err }, 'offset commit failed; will retry');
      return failed();
    }
    if (this.events === before) return failed();
    for (const { st, commit } of wanted) st.committed = commit;
    return true;
  }
}
