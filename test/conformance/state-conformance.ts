// Conformance suite for StateStore: any backend (SQLite, Redis, …) must pass it unchanged.
// Asserts error codes only, never messages.
import type { TestFn } from 'ava';
import type { SetOperation, StateStore, TransactionOperation } from '../../agent/components/state-store.js';
import { uniq, withStore, type MakeStore } from './conformance-helpers.js';
import { sleep, waitFor } from '../support/wait.js';

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

function setOp(key: string, value: string, extra: Partial<SetOperation> = {}): SetOperation {
  return { key, value: buf(value), etag: undefined, concurrency: 'last-write', ttlSeconds: undefined, contentType: undefined, ...extra };
}

export function stateConformance(test: TestFn, name: string, makeStore: MakeStore<StateStore>): void {
  test(`${name} state: set then get returns value, ETag and content type`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('k');
      const etag = await store.set(setOp(key, 'hello', { contentType: 'text/plain' }));
      t.is(typeof etag, 'string');
      t.true(etag.length > 0);
      const got = await store.get(key);
      t.truthy(got);
      t.true(got?.value.equals(buf('hello')));
      t.is(got?.etag, etag);
      t.is(got?.contentType, 'text/plain');
      t.is(got?.expiresAt, undefined);
    });
  });

  test(`${name} state: binary and empty values round-trip`, async (t) => {
    await withStore(makeStore, async (store) => {
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const k1 = uniq('bin');
      const k2 = uniq('empty');
      await store.set({ ...setOp(k1, ''), value: all });
      await store.set({ ...setOp(k2, ''), value: Buffer.alloc(0) });
      t.true((await store.get(k1))?.value.equals(all));
      const empty = await store.get(k2);
      t.truthy(empty);
      t.is(empty?.value.length, 0);
    });
  });

  test(`${name} state: get of a missing key is undefined`, async (t) => {
    await withStore(makeStore, async (store) => {
      t.is(await store.get(uniq('missing')), undefined);
    });
  });

  test(`${name} state: last-write without ETag upserts and changes the ETag`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('k');
      const e1 = await store.set(setOp(key, 'a'));
      const e2 = await store.set(setOp(key, 'b'));
      t.not(e1, e2);
      const got = await store.get(key);
      t.true(got?.value.equals(buf('b')));
      t.is(got?.etag, e2);
    });
  });

  test(`${name} state: first-write without ETag only creates`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('k');
      await store.set(setOp(key, 'a', { concurrency: 'first-write' }));
      await t.throwsAsync(store.set(setOp(key, 'b', { concurrency: 'first-write' })), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
      t.true((await store.get(key))?.value.equals(buf('a')));
    });
  });

  test(`${name} state: a matching ETag updates, a stale one is ETAG_MISMATCH in both modes`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('k');
      const e1 = await store.set(setOp(key, 'a'));
      const e2 = await store.set(setOp(key, 'b', { etag: e1 }));
      for (const concurrency of ['first-write', 'last-write'] as const) {
        await t.throwsAsync(store.set(setOp(key, 'c', { etag: e1, concurrency })), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
      }
      const e3 = await store.set(setOp(key, 'c', { etag: e2, concurrency: 'first-write' }));
      const got = await store.get(key);
      t.true(got?.value.equals(buf('c')));
      t.is(got?.etag, e3);
    });
  });

  test(`${name} state: an ETag on a missing key is ETAG_MISMATCH`, async (t) => {
    await withStore(makeStore, async (store) => {
      const other = uniq('other');
      const etag = await store.set(setOp(other, 'x'));
      await t.throwsAsync(store.set(setOp(uniq('missing'), 'v', { etag })), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
    });
  });

  test(`${name} state: an ETag from a deleted and recreated key does not match`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('k');
      const old = await store.set(setOp(key, 'a'));
      t.true(await store.delete({ key, etag: undefined, concurrency: 'last-write' }));
      await store.set(setOp(key, 'b'));
      await t.throwsAsync(store.set(setOp(key, 'c', { etag: old })), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
    });
  });

  test(`${name} state: a garbage ETag is rejected (invalid or mismatch)`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('k');
      await store.set(setOp(key, 'a'));
      const err = await t.throwsAsync(store.set(setOp(key, 'b', { etag: 'not an etag!' })));
      t.true(['HEARTH_ERR_ETAG_INVALID', 'HEARTH_ERR_ETAG_MISMATCH'].includes((err as { code?: string }).code ?? ''));
      t.true((await store.get(key))?.value.equals(buf('a')));
    });
  });

  test(`${name} state: concurrent writers with the same ETag: exactly one wins`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('k');
      const etag = await store.set(setOp(key, 'start'));
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.set(setOp(key, `w${i}`, { etag }))));
      const ok = results.filter((r) => r.status === 'fulfilled');
      t.is(ok.length, 1);
      for (const r of results) {
        if (r.status === 'rejected') t.is((r.reason as { code?: string }).code, 'HEARTH_ERR_ETAG_MISMATCH');
      }
    });
  });

  test(`${name} state: delete semantics`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('k');
      t.false(await store.delete({ key, etag: undefined, concurrency: 'last-write' }));
      const etag = await store.set(setOp(key, 'a'));
      await t.throwsAsync(store.delete({ key: uniq('missing'), etag, concurrency: 'last-write' }), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
      const newer = await store.set(setOp(key, 'b'));
      await t.throwsAsync(store.delete({ key, etag, concurrency: 'first-write' }), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
      t.truthy(await store.get(key));
      t.true(await store.delete({ key, etag: newer, concurrency: 'first-write' }));
      t.is(await store.get(key), undefined);
      await store.set(setOp(key, 'c'));
      t.true(await store.delete({ key, etag: undefined, concurrency: 'last-write' }));
      t.false(await store.delete({ key, etag: undefined, concurrency: 'last-write' }));
    });
  });

  test(`${name} state: TTL sets expiresAt; a later write without TTL clears it`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('k');
      const before = Date.now();
      await store.set(setOp(key, 'a', { ttlSeconds: 600 }));
      const got = await store.get(key);
      t.truthy(got);
      t.true((got?.expiresAt ?? 0) >= before + 600_000 - 1000);
      await store.set(setOp(key, 'b'));
      t.is((await store.get(key))?.expiresAt, undefined);
    });
  });

  test(`${name} state: an expired item is absent for get, bulkGet, ETag checks and first-write`, async (t) => {
    await withStore(makeStore, async (store) => {
      const key = uniq('k');
      const etag = await store.set(setOp(key, 'a', { ttlSeconds: 1 }));
      await sleep(1100);
      await waitFor('expiry', async () => (await store.get(key)) === undefined, { timeoutMs: 20_000, everyMs: 10, retryErrors: false });
      t.deepEqual(await store.bulkGet([key]), [undefined]);
      await t.throwsAsync(store.set(setOp(key, 'b', { etag })), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
      await t.throwsAsync(store.delete({ key, etag, concurrency: 'last-write' }), { code: 'HEARTH_ERR_ETAG_MISMATCH' });
      t.false(await store.delete({ key, etag: undefined, concurrency: 'last-write' }));
      await store.set(setOp(key, 'c', { concurrency: 'first-write' }));
      t.true((await store.get(key))?.value.equals(buf('c')));
    });
  });

  test(`${name} state: bulkGet keeps order and reports missing keys as undefined`, async (t) => {
    await withStore(makeStore, async (store) => {
      const a = uniq('a');
      const b = uniq('b');
      const ea = await store.set(setOp(a, 'A'));
      const eb = await store.set(setOp(b, 'B'));
      const got = await store.bulkGet([b, uniq('missing'), a]);
      t.is(got.length, 3);
      t.true(got[0]?.value.equals(buf('B')));
      t.is(got[0]?.etag, eb);
      t.is(got[1], undefined);
      t.true(got[2]?.value.equals(buf('A')));
      t.is(got[2]?.etag, ea);
      t.deepEqual(await store.bulkGet([]), []);
    });
  });

  test(`${name} state: transact applies every operation and returns ETags in order`, async (t) => {
    await withStore(makeStore, async (store) => {
      const a = uniq('a');
      const b = uniq('b');
      const c = uniq('c');
      const ec = await store.set(setOp(c, 'C'));
      const ops: TransactionOperation[] = [
        { type: 'upsert', ...setOp(a, 'A') },
        { type: 'upsert', ...setOp(b, 'B', { concurrency: 'first-write' }) },
        { type: 'delete', key: c, etag: ec, concurrency: 'last-write' },
      ];
      const etags = await store.transact(ops);
      t.is(etags.length, 3);
      t.is(etags[2], '');
      t.is((await store.get(a))?.etag, etags[0]);
      t.is((await store.get(b))?.etag, etags[1]);
      t.is(await store.get(c), undefined);
    });
  });

  test(`${name} state: a failing transaction changes nothing and names the failed operation`, async (t) => {
    await withStore(makeStore, async (store) => {
      const a = uniq('a');
      const b = uniq('b');
      const d = uniq('d');
      await store.set(setOp(a, 'old-a'));
      const eb = await store.set(setOp(b, 'old-b'));
      await store.set(setOp(b, 'newer-b'));
      const ed = await store.set(setOp(d, 'D'));
      const ops: TransactionOperation[] = [
        { type: 'upsert', ...setOp(a, 'new-a') },
        { type: 'delete', key: d, etag: ed, concurrency: 'last-write' },
        { type: 'upsert', ...setOp(uniq('new'), 'x') },
        { type: 'upsert', ...setOp(b, 'new-b', { etag: eb }) },
      ];
      const err = await t.throwsAsync(store.transact(ops), { code: 'HEARTH_ERR_TRANSACTION_FAILED' });
      t.like((err as { details?: Record<string, unknown> }).details, { index: 3, code: 'HEARTH_ERR_ETAG_MISMATCH' });
      t.true((await store.get(a))?.value.equals(buf('old-a')));
      t.true((await store.get(b))?.value.equals(buf('newer-b')));
      t.is((await store.get(d))?.etag, ed);
      t.is(await store.get((ops[2] as { key: string }).key), undefined);
    });
  });

  test(`${name} state: a first-write conflict inside a transaction rolls it back`, async (t) => {
    await withStore(makeStore, async (store) => {
      const a = uniq('a');
      const b = uniq('b');
      await store.set(setOp(b, 'exists'));
      const err = await t.throwsAsync(
        store.transact([
          { type: 'upsert', ...setOp(a, 'A') },
          { type: 'upsert', ...setOp(b, 'B', { concurrency: 'first-write' }) },
        ]),
        { code: 'HEARTH_ERR_TRANSACTION_FAILED' },
      );
      t.like((err as { details?: Record<string, unknown> }).details, { index: 1, code: 'HEARTH_ERR_ETAG_MISMATCH' });
      t.is(await store.get(a), undefined);
    });
  });

  test(`${name} state: start, close and destroy are idempotent; health follows the lifecycle`, async (t) => {
    await withStore(makeStore, async (store) => {
      await store.start();
      t.true(store.health().healthy);
      await store.close();
      await store.close();
      store.destroy();
      t.false(store.health().healthy);
    });
  });
}
