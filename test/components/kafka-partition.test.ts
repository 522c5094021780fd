// The per-partition bookkeeping of pubsub.kafka without a broker: the commit point ("everything
// below is done") and the delivery ledger that travels in the commit metadata.
import test from 'ava';
import type { KafkaMessage } from 'kafkajs';
import { parseLedger, PartitionState, type Entry } from '../../agent/components/kafka/kafka-partition.js';

function record(offset: number): KafkaMessage {
  return { offset: String(offset), key: null, value: Buffer.from(`m${offset}`), timestamp: '0', attributes: 0, headers: {} };
}

function fetch(st: PartitionState, from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let o = from; o <= to; o++) {
    const e = st.add(record(o));
    if (e) out.push(e);
  }
  return out;
}

test('kafka partition: the commit point stays at the oldest message not yet done', (t) => {
  const st = new PartitionState(0, 1, 10);
  t.is(st.frontier(), 10);
  const [a, b, c] = fetch(st, 10, 12);
  t.is(st.frontier(), 10);
  st.done(b as Entry);
  t.is(st.frontier(), 10, 'an ack above a gap does not move it');
  st.done(a as Entry);
  t.is(st.frontier(), 12);
  st.done(c as Entry);
  t.is(st.frontier(), 13);
  st.skipTo(20);
  t.is(st.frontier(), 20, 'control records and compacted gaps are passed over');
  t.is(st.add(record(15)), undefined, 'offsets already fetched are ignored');
});

test('kafka partition: the ledger records attempts and out-of-order acks, and a new owner reads it back', (t) => {
  const st = new PartitionState(3, 1, 100);
  const [m100, m101, m102, m103] = fetch(st, 100, 103);
  for (const e of [m100, m101, m102, m103]) if (e) e.attempts = 1;
  (m102 as Entry).attempts = 3;
  st.done(m101 as Entry);
  st.done(m103 as Entry);
  const commit = st.wantedCommit();
  t.is(commit?.offset, 100);
  const ledger = parseLedger(commit?.ledger, 100);
  t.deepEqual([...ledger].sort((x, y) => x[0] - y[0]), [
    [100, 1],
    [101, 0],
    [102, 3],
    [103, 0],
  ]);
  // The next owner starts at the commit point, skips what was acked and keeps counting attempts.
  const next = new PartitionState(3, 2, 100, ledger);
  const again = fetch(next, 100, 104);
  t.deepEqual(
    again.map((e) => [e.offset, e.attempts]),
    [
      [100, 1],
      [102, 3],
      [104, 0],
    ],
  );
  // A ledger written for another commit point, or by another client, is ignored.
  t.is(parseLedger(commit?.ledger, 99).size, 0);
  t.is(parseLedger('some other client', 100).size, 0);
  t.is(parseLedger(null, 100).size, 0);
});

test('kafka partition: nothing to commit once Kafka has what the state wants', (t) => {
  const st = new PartitionState(0, 1, 0);
  const [e] = fetch(st, 0, 0);
  const wanted = st.wantedCommit();
  t.truthy(wanted);
  st.committed = wanted;
  t.is(st.wantedCommit(), undefined);
  st.done(e as Entry);
  t.is(st.wantedCommit()?.offset, 1);
});

test('kafka partition: the ledger stays within Kafka’s default offset metadata size', (t) => {
  const st = new PartitionState(0, 1, 0);
  for (const e of fetch(st, 0, 5000)) e.attempts = 7;
  const ledger = st.wantedCommit()?.ledger ?? '';
  t.true(ledger.length <= 4096, `${ledger.length} chars`);
  // The lowest offsets are the ones kept: they are redelivered first.
  t.is(parseLedger(ledger, 0).get(0), 7);
});
