// Conformance suite for LockStore: any backend must pass it unchanged.
import type { TestFn } from 'ava';
import type { LockStore } from '../../agent/components/lock-store.js';
import { uniq, withStore, type MakeStore } from './conformance-helpers.js';
import { sleep, waitFor } from '../support/wait.js';

const LONG = 60_000;

export function lockConformance(test: TestFn, name: string, makeStore: MakeStore<LockStore>): void {
  test(`${name} lock: a free lock is taken; another owner is refused; the owner renews`, async (t) => {
    await withStore(makeStore, async (store) => {
      const res = uniq('res');
      t.true(await store.tryLock(res, 'alice', LONG));
      t.false(await store.tryLock(res, 'bob', LONG));
      t.true(await store.tryLock(res, 'alice', LONG));
      t.true(await store.tryLock(uniq('other'), 'bob', LONG));
    });
  });

  test(`${name} lock: unlock statuses`, async (t) => {
    await withStore(makeStore, async (store) => {
      const res = uniq('res');
      t.is(await store.unlock(res, 'alice'), 'LOCK_DOES_NOT_EXIST');
      t.true(await store.tryLock(res, 'alice', LONG));
      t.is(await store.unlock(res, 'bob'), 'LOCK_BELONGS_TO_OTHERS');
      t.is(await store.unlock(res, 'alice'), 'SUCCESS');
      t.is(await store.unlock(res, 'alice'), 'LOCK_DOES_NOT_EXIST');
      t.true(await store.tryLock(res, 'bob', LONG));
    });
  });

  test(`${name} lock: an expired lease is free for others and gone for its owner`, async (t) => {
    await withStore(makeStore, async (store) => {
      const a = uniq('res');
      const b = uniq('res');
      t.true(await store.tryLock(a, 'alice', 200));
      t.true(await store.tryLock(b, 'alice', 200));
      await sleep(400);
      t.is(await store.unlock(a, 'alice'), 'LOCK_DOES_NOT_EXIST');
      t.false(await store.keepAlive(a, 'alice', LONG));
      await waitFor('expired lock to be free', () => store.tryLock(b, 'bob', LONG), { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
      t.is(await store.unlock(b, 'alice'), 'LOCK_BELONGS_TO_OTHERS');
    });
  });

  test(`${name} lock: keepAlive extends the owner's lease only`, async (t) => {
    await withStore(makeStore, async (store) => {
      const res = uniq('res');
      t.false(await store.keepAlive(res, 'alice', LONG));
      t.true(await store.tryLock(res, 'alice', 2000));
      t.false(await store.keepAlive(res, 'bob', LONG));
      t.true(await store.keepAlive(res, 'alice', LONG));
      await sleep(2500);
      t.false(await store.tryLock(res, 'bob', LONG));
      t.is(await store.unlock(res, 'alice'), 'SUCCESS');
    });
  });

  test(`${name} lock: concurrent tryLock by many owners: exactly one wins`, async (t) => {
    await withStore(makeStore, async (store) => {
      const res = uniq('res');
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.tryLock(res, `owner-${i}`, LONG)));
      t.is(results.filter(Boolean).length, 1);
    });
  });
}
