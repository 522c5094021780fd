import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { callError } from '../helpers/grpc-client.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';

let rt: InProcess<'grpc'>;
test.before(async () => {
  rt = await startInProcess({ transports: ['grpc'] });
});
test.after.always(async () => {
  await rt?.close();
});

const S = 'statestore';

test('save, get, delete round trip with content type', async (t) => {
  const { state } = rt.demo.grpc.clients;
  const saved = await state.SaveState({ storeName: S, states: [{ key: 'rt', value: Buffer.from('v1'), contentType: 'text/plain' }] });
  t.is(saved.etags.length, 1);
  const got = await state.GetState({ storeName: S, key: 'rt' });
  t.true(got.found);
  t.is(got.data.toString(), 'v1');
  t.is(got.etag, saved.etags[0] ?? 'missing');
  t.is(got.contentType, 'text/plain');
  t.true((await state.DeleteState({ storeName: S, key: 'rt' })).deleted);
  const gone = await state.GetState({ storeName: S, key: 'rt' });
  t.false(gone.found);
  t.is(gone.data.length, 0);
  t.is(gone.etag, '');
  t.false((await state.DeleteState({ storeName: S, key: 'rt' })).deleted);
});

test('first-write: a new key without ETag succeeds once, then needs the current ETag', async (t) => {
  const { state } = rt.demo.grpc.clients;
  const first = { storeName: S, states: [{ key: 'fw', value: Buffer.from('a'), options: { concurrency: 'CONCURRENCY_FIRST_WRITE' } }] };
  const [etag] = (await state.SaveState(first)).etags;
  const again = callError(await t.throwsAsync(state.SaveState(first)));
  t.is(again.code, grpc.status.ABORTED);
  t.is(again.hearthCode, 'HEARTH_ERR_ETAG_MISMATCH');
  const ok = await state.SaveState({
    storeName: S,
    states: [{ key: 'fw', value: Buffer.from('b'), etag: { value: etag }, options: { concurrency: 'CONCURRENCY_FIRST_WRITE' } }],
  });
  t.not(ok.etags[0], etag);
  // The old ETag is now stale, in either mode.
  const stale = callError(
    await t.throwsAsync(state.SaveState({ storeName: S, states: [{ key: 'fw', value: Buffer.from('c'), etag: { value: etag } }] })),
  );
  t.is(stale.hearthCode, 'HEARTH_ERR_ETAG_MISMATCH');
  const del = callError(await t.throwsAsync(state.DeleteState({ storeName: S, key: 'fw', etag: { value: etag } })));
  t.is(del.hearthCode, 'HEARTH_ERR_ETAG_MISMATCH');
  t.is((await state.GetState({ storeName: S, key: 'fw' })).data.toString(), 'b');
});

test('last-write without ETag overwrites', async (t) => {
  const { state } = rt.demo.grpc.clients;
  await state.SaveState({ storeName: S, states: [{ key: 'lw', value: Buffer.from('1') }] });
  await state.SaveState({
    storeName: S,
    states: [{ key: 'lw', value: Buffer.from('2'), options: { concurrency: 'CONCURRENCY_LAST_WRITE' } }],
  });
  t.is((await state.GetState({ storeName: S, key: 'lw' })).data.toString(), '2');
});

test('ttlInSeconds expires the item; a bad TTL is INVALID_ARGUMENT', async (t) => {
  const { state } = rt.demo.grpc.clients;
  await state.SaveState({ storeName: S, states: [{ key: 'ttl', value: Buffer.from('x'), metadata: { ttlInSeconds: '1' } }] });
  t.true((await state.GetState({ storeName: S, key: 'ttl' })).found);
  // Poll rather than assert a timing: the item must disappear.
  await waitFor('the item to expire', async () => !(await state.GetState({ storeName: S, key: 'ttl' })).found, { timeoutMs: 10_000, retryErrors: false });
  t.false((await state.GetState({ storeName: S, key: 'ttl' })).found);
  for (const bad of ['-1', '1.5', 'soon']) {
    const e = callError(
      await t.throwsAsync(state.SaveState({ storeName: S, states: [{ key: 'ttl2', value: Buffer.from('x'), metadata: { ttlInSeconds: bad } }] })),
    );
    t.is(e.code, grpc.status.INVALID_ARGUMENT, bad);
    t.is(e.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT', bad);
  }
});

test('bulk get returns the app keys in order, found or not', async (t) => {
  const { state } = rt.demo.grpc.clients;
  await state.SaveState({
    storeName: S,
    states: [
      { key: 'b1', value: Buffer.from('one') },
      { key: 'b2', value: Buffer.from('two') },
    ],
  });
  const { items } = await state.GetBulkState({ storeName: S, keys: ['b2', 'missing', 'b1'] });
  t.deepEqual(
    items.map((i) => [i.key, i.found, i.data.toString()]),
    [
      ['b2', true, 'two'],
      ['missing', false, ''],
      ['b1', true, 'one'],
    ],
  );
});

test('transaction: all or nothing, ETags in operation order', async (t) => {
  const { state } = rt.demo.grpc.clients;
  const [etag] = (await state.SaveState({ storeName: S, states: [{ key: 'tx-a', value: Buffer.from('a0') }] })).etags;
  await state.SaveState({ storeName: S, states: [{ key: 'tx-gone', value: Buffer.from('x') }] });
  const res = await state.ExecuteStateTransaction({
    storeName: S,
    operations: [
      { operationType: 'upsert', request: { key: 'tx-a', value: Buffer.from('a1'), etag: { value: etag } } },
      { operationType: 'delete', request: { key: 'tx-gone' } },
      { operationType: 'upsert', request: { key: 'tx-b', value: Buffer.from('b1') } },
    ],
  });
  t.is(res.etags.length, 3);
  t.is(res.etags[1], '');
  t.is((await state.GetState({ storeName: S, key: 'tx-a' })).data.toString(), 'a1');
  t.false((await state.GetState({ storeName: S, key: 'tx-gone' })).found);

  // A stale ETag rolls everything back.
  const failed = callError(
    await t.throwsAsync(
      state.ExecuteStateTransaction({
        storeName: S,
        operations: [
          { operationType: 'upsert', request: { key: 'tx-b', value: Buffer.from('b2') } },
          { operationType: 'upsert', request: { key: 'tx-a', value: Buffer.from('a2'), etag: { value: etag } } },
        ],
      }),
    ),
  );
  t.is(failed.code, grpc.status.ABORTED);
  t.is(failed.hearthCode, 'HEARTH_ERR_TRANSACTION_FAILED');
  t.is((await state.GetState({ storeName: S, key: 'tx-b' })).data.toString(), 'b1');

  const badType = callError(
    await t.throwsAsync(state.ExecuteStateTransaction({ storeName: S, operations: [{ operationType: 'merge', request: { key: 'k' } }] })),
  );
  t.is(badType.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT');
});

test('a shared store sees the same keys for every app', async (t) => {
  await rt.demo.grpc.clients.state.SaveState({ storeName: 'shared', states: [{ key: 'common', value: Buffer.from('both') }] });
  const got = await rt.other.grpc.clients.state.GetState({ storeName: 'shared', key: 'common' });
  t.true(got.found);
  t.is(got.data.toString(), 'both');
});

test('responses carry the request id in the trailers', async (t) => {
  const md = rt.demo.grpc.clients.authMetadata();
  md.set('x-request-id', 'req-123');
  const e = callError(await t.throwsAsync(rt.demo.grpc.clients.state.GetState({ storeName: 'nope', key: 'k' }, md)));
  t.is(e.hearthCode, 'HEARTH_ERR_STORE_NOT_FOUND');
  t.is(e.requestId, 'req-123');
  t.regex(rt.logText(), /"requestId":"req-123"/);
});
