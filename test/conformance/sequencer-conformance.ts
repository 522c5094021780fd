// Conformance suite for SequencerStore: any backend must pass it unchanged.
import type { TestFn } from 'ava';
import type { SequencerStore } from '../../agent/components/sequencer-store.js';
import { uniq, withStore, type MakeStore } from './conformance-helpers.js';

export function sequencerConformance(test: TestFn, name: string, makeStore: MakeStore<SequencerStore>): void {
  test(`${name} sequencer: starts at 1 and increases by key`, async (t) => {
    await withStore(makeStore, async (store) => {
      const a = uniq('seq');
      const b = uniq('seq');
      t.is(await store.next(a), 1n);
      t.is(await store.next(a), 2n);
      t.is(await store.next(b), 1n);
      t.is(await store.next(a), 3n);
      t.is(typeof (await store.next(b)), 'bigint');
    });
  });

  test(`${name} sequencer: concurrent calls get distinct, gap-free ids`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('seq');
      const n = 300;
      const ids = await Promise.all(Array.from({ length: n }, () => store.next(key)));
      const sorted = [...ids].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      t.is(new Set(ids).size, n);
      t.is(sorted[0], 1n);
      t.is(sorted[n - 1], BigInt(n));
      t.true((await store.next(key)) > BigInt(n));
    });
  });
}
