// State against a real `hearth start` (two workers): every operation on gRPC and on HTTP, ETag
// concurrency, TTL, and consistency across transports and across workers (one SQLite file).
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { callError, type GrpcClients } from '../helpers/grpc-client.js';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import type { HttpClient } from '../helpers/http-client.js';
import {
  assertGrpcError,
  assertHttpError,
  closing,
  grpcConnection,
  grpcConnectionPerWorker,
  grpcWorker,
  httpClient,
  httpClientPerWorker,
  servedBy,
  uniq,
} from './e2e-helpers.js';
import { waitFor } from '../support/wait.js';

const S = 'default';
let h: HearthProcess;
let g: GrpcClients;
let c: HttpClient;

test.before(async () => {
  // debug: successful gRPC calls log a line with the request id, which tells which worker served it.
  h = await startHearth({ config: { logLevel: 'debug' } });
  g = grpcConnection(h, 'demo');
  c = httpClient(h, 'demo');
});
test.after.always(async () => {
  g?.close();
  c?.close();
  await h?.stop();
});

const FIRST = { concurrency: 'CONCURRENCY_FIRST_WRITE' };
const LAST = { concurrency: 'CONCURRENCY_LAST_WRITE' };

test('gRPC: save, get, delete with content type and ETag', async (t) => {
  const k = uniq('g-rt');
  const saved = await g.state.SaveState({ storeName: S, states: [{ key: k, value: Buffer.from('v1'), contentType: 'text/plain' }] });
  t.is(saved.etags.length, 1);
  const got = await g.state.GetState({ storeName: S, key: k });
  t.true(got.found);
  t.is(got.data.toString(), 'v1');
  t.is(got.contentType, 'text/plain');
  t.is(got.etag, saved.etags[0] ?? 'missing');
  t.true((await g.state.DeleteState({ storeName: S, key: k })).deleted);
  const gone = await g.state.GetState({ storeName: S, key: k });
  t.false(gone.found);
  t.is(gone.etag, '');
  t.false((await g.state.DeleteState({ storeName: S, key: k })).deleted);
});

test('gRPC: first-write, last-write and stale ETags (ABORTED + HEARTH_ERR_ETAG_MISMATCH)', async (t) => {
  const k = uniq('g-etag');
  const first = { storeName: S, states: [{ key: k, value: Buffer.from('a'), options: FIRST }] };
  const [e1] = (await g.state.SaveState(first)).etags;
  await assertGrpcError(t, g.state.SaveState(first), grpc.status.ABORTED, 'HEARTH_ERR_ETAG_MISMATCH', 'first-write on an existing key');
  const [e2] = (await g.state.SaveState({ storeName: S, states: [{ key: k, value: Buffer.from('b'), etag: { value: e1 }, options: FIRST }] })).etags;
  t.not(e2, e1);
  await assertGrpcError(
    t,
    g.state.SaveState({ storeName: S, states: [{ key: k, value: Buffer.from('c'), etag: { value: e1 }, options: LAST }] }),
    grpc.status.ABORTED,
    'HEARTH_ERR_ETAG_MISMATCH',
    'last-write with a stale ETag',
  );
  await assertGrpcError(t, g.state.DeleteState({ storeName: S, key: k, etag: { value: e1 } }), grpc.status.ABORTED, 'HEARTH_ERR_ETAG_MISMATCH', 'delete');
  // last-write without an ETag overwrites.
  await g.state.SaveState({ storeName: S, states: [{ key: k, value: Buffer.from('d'), options: LAST }] });
  const now = await g.state.GetState({ storeName: S, key: k });
  t.is(now.data.toString(), 'd');
  t.true((await g.state.DeleteState({ storeName: S, key: k, etag: { value: now.etag }, options: FIRST })).deleted);
});

test('gRPC: bulk get in order; transaction all or nothing', async (t) => {
  const [a, b, gone, missing] = [uniq('g-a'), uniq('g-b'), uniq('g-gone'), uniq('g-missing')];
  const [ea] = (await g.state.SaveState({ storeName: S, states: [{ key: a, value: Buffer.from('a0') }, { key: gone, value: Buffer.from('x') }] })).etags;
  const tx = await g.state.ExecuteStateTransaction({
    storeName: S,
    operations: [
      { operationType: 'upsert', request: { key: a, value: Buffer.from('a1'), etag: { value: ea } } },
      { operationType: 'delete', request: { key: gone } },
      { operationType: 'upsert', request: { key: b, value: Buffer.from('b1') } },
    ],
  });
  t.is(tx.etags.length, 3);
  const { items } = await g.state.GetBulkState({ storeName: S, keys: [b, missing, a, gone] });
  t.deepEqual(
    items.map((i) => [i.key, i.found, i.data.toString()]),
    [
      [b, true, 'b1'],
      [missing, false, ''],
      [a, true, 'a1'],
      [gone, false, ''],
    ],
  );
  // The stale ETag of the second operation rolls back the first.
  await assertGrpcError(
    t,
    g.state.ExecuteStateTransaction({
      storeName: S,
      operations: [
        { operationType: 'upsert', request: { key: b, value: Buffer.from('b2') } },
        { operationType: 'upsert', request: { key: a, value: Buffer.from('a2'), etag: { value: ea } } },
      ],
    }),
    grpc.status.ABORTED,
    'HEARTH_ERR_TRANSACTION_FAILED',
    'transaction with a stale ETag',
  );
  t.is((await g.state.GetState({ storeName: S, key: b })).data.toString(), 'b1');
  t.is((await g.state.GetState({ storeName: S, key: a })).data.toString(), 'a1');
});

test('gRPC: ttlInSeconds expires the item', async (t) => {
  const k = uniq('g-ttl');
  await g.state.SaveState({ storeName: S, states: [{ key: k, value: Buffer.from('x'), metadata: { ttlInSeconds: '1' } }] });
  await g.state.SaveState({ storeName: S, states: [{ key: `${k}-keep`, value: Buffer.from('y') }] });
  await waitFor('the TTL item to expire', async () => ((await g.state.GetState({ storeName: S, key: k })).found ? undefined : true));
  t.false((await g.state.GetState({ storeName: S, key: k })).found);
  t.true((await g.state.GetState({ storeName: S, key: `${k}-keep` })).found);
});

test('HTTP: save 204, get 200 with ETag and type, missing 204, delete with If-Match', async (t) => {
  const k = uniq('h-rt');
  const value = { id: 42, items: ['a', 'b'] };
  const saved = await c.post(`/v1.0/state/${S}`, [{ key: k, value }]);
  t.is(saved.status, 204);
  const got = await c.get(`/v1.0/state/${S}/${k}`);
  t.is(got.status, 200);
  t.deepEqual(got.json(), value);
  t.regex(String(got.headers['content-type']), /^application\/json/);
  const etag1 = String(got.headers.etag);
  t.truthy(etag1);

  await c.post(`/v1.0/state/${S}`, [{ key: k, value: 2 }]);
  const etag2 = String((await c.get(`/v1.0/state/${S}/${k}`)).headers.etag);
  t.not(etag2, etag1);
  assertHttpError(t, await c.delete(`/v1.0/state/${S}/${k}`, { headers: { 'if-match': etag1 } }), 409, 'HEARTH_ERR_ETAG_MISMATCH', 'stale If-Match');
  t.is((await c.delete(`/v1.0/state/${S}/${k}`, { headers: { 'if-match': `"${etag2}"` } })).status, 204);
  const missing = await c.get(`/v1.0/state/${S}/${k}`);
  t.is(missing.status, 204);
  t.is(missing.body.length, 0);
  t.is((await c.delete(`/v1.0/state/${S}/${k}`)).status, 204);
});

test('HTTP: first-write and last-write concurrency', async (t) => {
  const k = uniq('h-fw');
  const first = [{ key: k, value: 1, options: { concurrency: 'first-write' } }];
  t.is((await c.post(`/v1.0/state/${S}`, first)).status, 204);
  assertHttpError(t, await c.post(`/v1.0/state/${S}`, first), 409, 'HEARTH_ERR_ETAG_MISMATCH', 'first-write again');
  const etag = String((await c.get(`/v1.0/state/${S}/${k}`)).headers.etag);
  t.is((await c.post(`/v1.0/state/${S}`, [{ key: k, value: 2, etag, options: { concurrency: 'first-write' } }])).status, 204);
  assertHttpError(
    t,
    await c.post(`/v1.0/state/${S}`, [{ key: k, value: 3, etag, options: { concurrency: 'last-write' } }]),
    409,
    'HEARTH_ERR_ETAG_MISMATCH',
    'last-write with a stale ETag',
  );
  t.is((await c.post(`/v1.0/state/${S}`, [{ key: k, value: 4, options: { concurrency: 'last-write' } }])).status, 204);
  t.deepEqual((await c.get(`/v1.0/state/${S}/${k}`)).json(), 4);
});

test('HTTP: bulk get and transaction (all or nothing)', async (t) => {
  const [a, b, txt, missing] = [uniq('h-a'), uniq('h-b'), uniq('h-t'), uniq('h-missing')];
  await c.post(`/v1.0/state/${S}`, [
    { key: a, value: { a: 1 } },
    { key: txt, value: 'raw text', metadata: { contentType: 'text/plain' } },
  ]);
  const tx = await c.post(`/v1.0/state/${S}/transaction`, {
    operations: [
      { operation: 'upsert', request: { key: b, value: 'bee' } },
      { operation: 'delete', request: { key: a } },
    ],
  });
  t.is(tx.status, 204);
  const bulk = await c.post(`/v1.0/state/${S}/bulk`, { keys: [a, b, txt, missing], parallelism: 2 });
  t.is(bulk.status, 200);
  const items = bulk.json<{ key: string; data?: unknown; etag?: string }[]>();
  t.deepEqual(
    items.map((i) => [i.key, i.data]),
    [
      [a, undefined],
      [b, 'bee'],
      [txt, 'raw text'],
      [missing, undefined],
    ],
  );
  t.truthy(items[1]?.etag);

  const stale = String((await c.get(`/v1.0/state/${S}/${txt}`)).headers.etag);
  await c.post(`/v1.0/state/${S}`, [{ key: txt, value: 'raw text', metadata: { contentType: 'text/plain' } }]);
  const failed = await c.post(`/v1.0/state/${S}/transaction`, {
    operations: [
      { operation: 'upsert', request: { key: b, value: 'changed' } },
      { operation: 'upsert', request: { key: txt, value: 'x', etag: stale, options: { concurrency: 'first-write' } } },
    ],
  });
  assertHttpError(t, failed, 409, 'HEARTH_ERR_TRANSACTION_FAILED', 'transaction with a stale ETag');
  t.deepEqual((await c.get(`/v1.0/state/${S}/${b}`)).json(), 'bee');
});

test('HTTP: ttlInSeconds (item and query metadata) expires the item', async (t) => {
  const [k1, k2] = [uniq('h-ttl'), uniq('h-ttlq')];
  t.is((await c.post(`/v1.0/state/${S}`, [{ key: k1, value: 1, metadata: { ttlInSeconds: '1' } }])).status, 204);
  t.is((await c.post(`/v1.0/state/${S}?metadata.ttlInSeconds=1`, [{ key: k2, value: 2 }])).status, 204);
  await waitFor('both TTL items to expire', async () => {
    const [r1, r2] = await Promise.all([c.get(`/v1.0/state/${S}/${k1}`), c.get(`/v1.0/state/${S}/${k2}`)]);
    return r1.status === 204 && r2.status === 204 ? true : undefined;
  });
  t.pass();
});

test('across transports: HTTP writes are gRPC reads, gRPC writes are HTTP reads, ETags are the same', async (t) => {
  const k = uniq('x-json');
  await c.post(`/v1.0/state/${S}`, [{ key: k, value: { from: 'http' } }]);
  const viaGrpc = await g.state.GetState({ storeName: S, key: k });
  t.true(viaGrpc.found);
  t.deepEqual(JSON.parse(viaGrpc.data.toString()), { from: 'http' });
  t.is(viaGrpc.contentType, 'application/json');
  const viaHttp = await c.get(`/v1.0/state/${S}/${k}`);
  t.is(String(viaHttp.headers.etag), viaGrpc.etag);

  // An ETag read on one transport is good on the other.
  await g.state.SaveState({ storeName: S, states: [{ key: k, value: Buffer.from('{"from":"grpc"}'), contentType: 'application/json', etag: { value: viaGrpc.etag }, options: FIRST }] });
  assertHttpError(t, await c.delete(`/v1.0/state/${S}/${k}`, { headers: { 'if-match': viaGrpc.etag } }), 409, 'HEARTH_ERR_ETAG_MISMATCH', 'HTTP delete with the old ETag');
  const after = await c.get(`/v1.0/state/${S}/${k}`);
  t.deepEqual(after.json(), { from: 'grpc' });
  t.is((await c.delete(`/v1.0/state/${S}/${k}`, { headers: { 'if-match': String(after.headers.etag) } })).status, 204);
  t.false((await g.state.GetState({ storeName: S, key: k })).found);

  // Raw bytes with a content type written on gRPC are served as such on HTTP.
  const raw = uniq('x-raw');
  await g.state.SaveState({ storeName: S, states: [{ key: raw, value: Buffer.from('plain words'), contentType: 'text/plain' }] });
  const got = await c.get(`/v1.0/state/${S}/${raw}`);
  t.is(got.text(), 'plain words');
  t.regex(String(got.headers['content-type']), /^text\/plain/);

  // A gRPC transaction is visible to an HTTP bulk get, and the reverse.
  const [ta, tb] = [uniq('x-ta'), uniq('x-tb')];
  await g.state.ExecuteStateTransaction({ storeName: S, operations: [{ operationType: 'upsert', request: { key: ta, value: Buffer.from('"A"'), contentType: 'application/json' } }] });
  await c.post(`/v1.0/state/${S}/transaction`, { operations: [{ operation: 'upsert', request: { key: tb, value: 'B' } }] });
  const bulk = (await c.post(`/v1.0/state/${S}/bulk`, { keys: [ta, tb] })).json<{ key: string; data?: unknown }[]>();
  t.deepEqual(bulk.map((i) => i.data), ['A', 'B']);
  const gb = await g.state.GetBulkState({ storeName: S, keys: [ta, tb] });
  t.deepEqual(gb.items.map((i) => i.data.toString()), ['"A"', '"B"']);
});

test('across workers: every new connection, on either worker and transport, sees the same data', async (t) => {
  const k = uniq('w-seen');
  t.is((await c.post(`/v1.0/state/${S}`, [{ key: k, value: 'v1' }])).status, 204);
  const pidsSeen = new Set<number>();
  const pids = (await h.status()).workers.map((w) => w.pid);
  for (let i = 0; i < 100 && (i < 20 || pidsSeen.size < pids.length); i++) {
    // A gRPC read on a new connection, tagged so its worker shows in the log.
    const fresh = grpcConnection(h, 'demo');
    const md = fresh.authMetadata();
    const id = uniq('w-read');
    md.set('x-request-id', id);
    try {
      const got = await fresh.state.GetState({ storeName: S, key: k }, md);
      t.is(got.data.toString(), '"v1"', `gRPC read ${i}`);
    } finally {
      fresh.close();
    }
    pidsSeen.add(await servedBy(h, id));
    // And an HTTP read on a new connection.
    const once = httpClient(h, 'demo', { keepAlive: false });
    try {
      t.deepEqual((await once.get(`/v1.0/state/${S}/${k}`)).json(), 'v1', `HTTP read ${i}`);
    } finally {
      once.close();
    }
  }
  t.deepEqual([...pidsSeen].sort(), [...pids].sort(), 'reads were served by both workers');

  // Writes on each worker are read on the other.
  const perWorker = await grpcConnectionPerWorker(h, 'demo');
  t.teardown(() => perWorker.forEach((x) => x.close()));
  const written: string[] = [];
  for (const [pid, conn] of perWorker) {
    const key = uniq(`w-${pid}`);
    await conn.state.SaveState({ storeName: S, states: [{ key, value: Buffer.from(String(pid)) }] });
    written.push(key);
  }
  for (const [pid, conn] of perWorker) {
    const { items } = await conn.state.GetBulkState({ storeName: S, keys: written });
    t.true(
      items.every((i) => i.found),
      `worker ${pid} sees every write`,
    );
  }
});

test('across workers: concurrent compare-and-swap increments never lose an update', async (t) => {
  const k = uniq('w-counter');
  await g.state.SaveState({ storeName: S, states: [{ key: k, value: Buffer.from('0') }] });
  const grpcPerWorker = await grpcConnectionPerWorker(h, 'demo');
  const httpPerWorker = await httpClientPerWorker(h, 'demo');
  t.teardown(() => {
    grpcPerWorker.forEach((x) => x.close());
    httpPerWorker.forEach((x) => x.close());
  });
  const PER_CLIENT = 8;
  let conflicts = 0;

  const viaGrpc = async (conn: GrpcClients): Promise<void> => {
    for (let done = 0, tries = 0; done < PER_CLIENT; tries++) {
      if (tries > 2000) throw new Error('no progress');
      const cur = await conn.state.GetState({ storeName: S, key: k });
      const next = Buffer.from(String(Number(cur.data.toString()) + 1));
      try {
        await conn.state.SaveState({ storeName: S, states: [{ key: k, value: next, etag: { value: cur.etag }, options: FIRST }] });
        done++;
      } catch (err) {
        if (callError(err).hearthCode !== 'HEARTH_ERR_ETAG_MISMATCH') throw err;
        conflicts++;
      }
    }
  };
  const viaHttp = async (client: HttpClient): Promise<void> => {
    for (let done = 0, tries = 0; done < PER_CLIENT; tries++) {
      if (tries > 2000) throw new Error('no progress');
      const cur = await client.get(`/v1.0/state/${S}/${k}`);
      const res = await client.post(`/v1.0/state/${S}`, [
        { key: k, value: cur.json<number>() + 1, etag: String(cur.headers.etag), options: { concurrency: 'first-write' } },
      ]);
      if (res.status === 204) done++;
      else if (res.headers['hearth-error-code'] === 'HEARTH_ERR_ETAG_MISMATCH') conflicts++;
      else throw new Error(`unexpected ${res.status} ${res.text()}`);
    }
  };
  await Promise.all([...[...grpcPerWorker.values()].map(viaGrpc), ...[...httpPerWorker.values()].map(viaHttp)]);
  const clients = grpcPerWorker.size + httpPerWorker.size;
  t.log(`${clients} clients on ${grpcPerWorker.size} workers, ${conflicts} ETag conflicts retried`);
  t.is(Number((await g.state.GetState({ storeName: S, key: k })).data.toString()), clients * PER_CLIENT);
});

test('a gRPC connection stays on its worker (the probe the other tests rely on)', async (t) => {
  const conn = closing(t, grpcConnection(h, 'demo'));
  const first = await grpcWorker(h, conn);
  t.is(await grpcWorker(h, conn), first);
  t.true((await h.status()).workers.some((w) => w.pid === first));
});
