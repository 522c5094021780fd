// Dapr's state API over http.sock: save/get/delete with ETags, bulk, transactions, TTL.
import { randomUUID } from 'node:crypto';
import anyTest, { type TestFn } from 'ava';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';

const test = anyTest as TestFn<{ h: InProcess<'http'> }>;

test.before(async (t) => {
  t.context.h = await startInProcess({ transports: ['http'] });
});
test.after.always(async (t) => {
  await t.context.h?.close();
});

const key = (p: string): string => `${p}-${randomUUID().slice(0, 8)}`;

test('save then get returns the same JSON with an ETag and application/json', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = key('order');
  const value = { id: 42, items: ['a', 'b'], nested: { ok: true } };
  const saved = await c.post('/v1.0/state/statestore', [{ key: k, value }]);
  t.is(saved.status, 204);
  t.is(saved.body.length, 0);

  const got = await c.get(`/v1.0/state/statestore/${k}`);
  t.is(got.status, 200);
  t.deepEqual(got.json(), value);
  t.truthy(got.headers.etag);
  t.regex(String(got.headers['content-type']), /^application\/json/);
});

test('a string value round-trips as its JSON text (Dapr quirk)', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = key('str');
  t.is((await c.post('/v1.0/state/statestore', [{ key: k, value: 'hello' }])).status, 204);
  const got = await c.get(`/v1.0/state/statestore/${k}`);
  t.is(got.text(), '"hello"');
});

test('a string with a non-JSON metadata.contentType is stored raw and served with that type', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = key('txt');
  await c.post('/v1.0/state/statestore', [{ key: k, value: 'plain words', metadata: { contentType: 'text/plain' } }]);
  const got = await c.get(`/v1.0/state/statestore/${k}`);
  t.is(got.status, 200);
  t.is(got.text(), 'plain words');
  t.regex(String(got.headers['content-type']), /^text\/plain/);
});

test('GET of a missing key is 204 with no body', async (t) => {
  const got = await t.context.h.demo.http.client.get(`/v1.0/state/statestore/${key('missing')}`);
  t.is(got.status, 204);
  t.is(got.body.length, 0);
});

test('ETag: a matching etag updates, a stale one is 409 HEARTH_ERR_ETAG_MISMATCH', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = key('etag');
  await c.post('/v1.0/state/statestore', [{ key: k, value: 1 }]);
  const etag1 = String((await c.get(`/v1.0/state/statestore/${k}`)).headers.etag);

  const ok = await c.post('/v1.0/state/statestore', [{ key: k, value: 2, etag: etag1, options: { concurrency: 'first-write' } }]);
  t.is(ok.status, 204);
  const etag2 = String((await c.get(`/v1.0/state/statestore/${k}`)).headers.etag);
  t.not(etag2, etag1);

  const stale = await c.post('/v1.0/state/statestore', [{ key: k, value: 3, etag: etag1, options: { concurrency: 'first-write' } }]);
  t.is(stale.status, 409);
  t.is(stale.headers['hearth-error-code'], 'HEARTH_ERR_ETAG_MISMATCH');
  t.is(stale.json<{ errorCode: string }>().errorCode, 'HEARTH_ERR_ETAG_MISMATCH');
  t.deepEqual((await c.get(`/v1.0/state/statestore/${k}`)).json(), 2);
});

test('first-write without an ETag fails when the key exists', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = key('fw');
  t.is((await c.post('/v1.0/state/statestore', [{ key: k, value: 1, options: { concurrency: 'first-write' } }])).status, 204);
  const again = await c.post('/v1.0/state/statestore', [{ key: k, value: 2, options: { concurrency: 'first-write' } }]);
  t.is(again.status, 409);
  t.is(again.json<{ errorCode: string }>().errorCode, 'HEARTH_ERR_ETAG_MISMATCH');
});

test('DELETE with If-Match: stale ETag is 409, current one deletes (204), then GET is 204', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = key('del');
  await c.post('/v1.0/state/statestore', [{ key: k, value: 'v1' }]);
  const etag1 = String((await c.get(`/v1.0/state/statestore/${k}`)).headers.etag);
  await c.post('/v1.0/state/statestore', [{ key: k, value: 'v2' }]);
  const etag2 = String((await c.get(`/v1.0/state/statestore/${k}`)).headers.etag);

  const stale = await c.delete(`/v1.0/state/statestore/${k}`, { headers: { 'if-match': etag1 } });
  t.is(stale.status, 409);
  t.is(stale.headers['hearth-error-code'], 'HEARTH_ERR_ETAG_MISMATCH');

  const del = await c.delete(`/v1.0/state/statestore/${k}`, { headers: { 'if-match': etag2 } });
  t.is(del.status, 204);
  t.is((await c.get(`/v1.0/state/statestore/${k}`)).status, 204);
});

test('DELETE without an ETag deletes; deleting a missing key is still 204', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = key('del2');
  await c.post('/v1.0/state/statestore', [{ key: k, value: true }]);
  t.is((await c.delete(`/v1.0/state/statestore/${k}`)).status, 204);
  t.is((await c.get(`/v1.0/state/statestore/${k}`)).status, 204);
  t.is((await c.delete(`/v1.0/state/statestore/${k}`)).status, 204);
});

test('several items in one save; keys with spaces and slashes survive percent-encoding', async (t) => {
  const c = t.context.h.demo.http.client;
  const a = key('multi a/b');
  const b = key('multi-b');
  t.is((await c.post('/v1.0/state/statestore', [{ key: a, value: { n: 1 } }, { key: b, value: [1, 2] }])).status, 204);
  t.deepEqual((await c.get(`/v1.0/state/statestore/${encodeURIComponent(a)}`)).json(), { n: 1 });
  t.deepEqual((await c.get(`/v1.0/state/statestore/${b}`)).json(), [1, 2]);
});

test('bulk get: a key asked for many times is fetched once; an answer over 64 MiB of values is refused with RESOURCE_EXHAUSTED', async (t) => {
  const c = t.context.h.demo.http.client;
  const big = key('bulk-big');
  const text = 'x'.repeat(1024 * 1024);
  t.is((await c.post('/v1.0/state/statestore', [{ key: big, value: text, metadata: { contentType: 'text/plain' } }])).status, 204);
  const three = await c.post('/v1.0/state/statestore/bulk', { keys: [big, big, big] });
  t.is(three.status, 200);
  t.deepEqual(three.json<{ key: string }[]>().map((i) => i.key), [big, big, big]);
  const refused = await c.post('/v1.0/state/statestore/bulk', { keys: Array.from({ length: 70 }, () => big) });
  t.is(refused.status, 429, refused.text().slice(0, 200));
  t.is(refused.json<{ errorCode: string }>().errorCode, 'HEARTH_ERR_RESOURCE_EXHAUSTED');
});

test('bulk get returns data (parsed JSON), etags, and missing keys without data', async (t) => {
  const c = t.context.h.demo.http.client;
  const a = key('bulk-a');
  const b = key('bulk-b');
  const txt = key('bulk-t');
  const missing = key('bulk-missing');
  await c.post('/v1.0/state/statestore', [
    { key: a, value: { a: 1 } },
    { key: b, value: 'bee' },
    { key: txt, value: 'raw text', metadata: { contentType: 'text/plain' } },
  ]);
  const res = await c.post('/v1.0/state/statestore/bulk', { keys: [a, b, txt, missing], parallelism: 4 });
  t.is(res.status, 200);
  const items = res.json<{ key: string; data?: unknown; etag?: string; error?: string }[]>();
  t.is(items.length, 4);
  t.deepEqual(items[0]?.data, { a: 1 });
  t.is(items[1]?.data, 'bee');
  t.is(items[2]?.data, 'raw text');
  t.truthy(items[0]?.etag);
  t.deepEqual(items[3], { key: missing });
  t.deepEqual(
    items.map((i) => i.key),
    [a, b, txt, missing],
  );
});

test('transaction: upserts and deletes apply together (204)', async (t) => {
  const c = t.context.h.demo.http.client;
  const a = key('tx-a');
  const b = key('tx-b');
  await c.post('/v1.0/state/statestore', [{ key: b, value: 'old' }]);
  const res = await c.post('/v1.0/state/statestore/transaction', {
    operations: [
      { operation: 'upsert', request: { key: a, value: { v: 1 } } },
      { operation: 'delete', request: { key: b } },
    ],
    metadata: { partitionKey: 'p' },
  });
  t.is(res.status, 204);
  t.deepEqual((await c.get(`/v1.0/state/statestore/${a}`)).json(), { v: 1 });
  t.is((await c.get(`/v1.0/state/statestore/${b}`)).status, 204);
});

test('transaction with a stale ETag rolls back everything (409)', async (t) => {
  const c = t.context.h.demo.http.client;
  const a = key('txr-a');
  const b = key('txr-b');
  await c.post('/v1.0/state/statestore', [{ key: b, value: 1 }]);
  const etag = String((await c.get(`/v1.0/state/statestore/${b}`)).headers.etag);
  await c.post('/v1.0/state/statestore', [{ key: b, value: 2 }]);
  const res = await c.post('/v1.0/state/statestore/transaction', {
    operations: [
      { operation: 'upsert', request: { key: a, value: 'x' } },
      { operation: 'upsert', request: { key: b, value: 3, etag, options: { concurrency: 'first-write' } } },
    ],
  });
  t.is(res.status, 409);
  t.regex(res.json<{ errorCode: string }>().errorCode, /^HEARTH_ERR_(TRANSACTION_FAILED|ETAG_MISMATCH)$/);
  t.is((await c.get(`/v1.0/state/statestore/${a}`)).status, 204);
  t.deepEqual((await c.get(`/v1.0/state/statestore/${b}`)).json(), 2);
});

test('transaction upsert without a value is a schema violation naming its path', async (t) => {
  const res = await t.context.h.demo.http.client.post('/v1.0/state/statestore/transaction', {
    operations: [{ operation: 'upsert', request: { key: 'k' } }],
  });
  t.is(res.status, 400);
  const body = res.json<{ errorCode: string; message: string }>();
  t.is(body.errorCode, 'HEARTH_ERR_INVALID_ARGUMENT');
  t.regex(body.message, /body\.operations\[0\]\.request\.value/);
});

test('metadata.ttlInSeconds is honoured (string or number)', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = key('ttl');
  t.is((await c.post('/v1.0/state/statestore', [{ key: k, value: 1, metadata: { ttlInSeconds: '1' } }])).status, 204);
  t.is((await c.get(`/v1.0/state/statestore/${k}`)).status, 200);
  const status = await waitFor('the item to expire', async () => {
    const s = (await c.get(`/v1.0/state/statestore/${k}`)).status;
    return s === 200 ? undefined : s;
  }, { timeoutMs: 20_000, retryErrors: false });
  t.is(status, 204);
  const k2 = key('ttl2');
  t.is((await c.post('/v1.0/state/statestore', [{ key: k2, value: 1, metadata: { ttlInSeconds: 3600 } }])).status, 204);
  const bad = await c.post('/v1.0/state/statestore', [{ key: k2, value: 1, metadata: { ttlInSeconds: 'soon' } }]);
  t.is(bad.status, 400);
  t.is(bad.json<{ errorCode: string }>().errorCode, 'HEARTH_ERR_INVALID_ARGUMENT');
});

test('JSON bodies are accepted whatever the Content-Type (Dapr clients vary)', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = key('ct');
  const body = JSON.stringify([{ key: k, value: 'x' }]);
  t.is((await c.post('/v1.0/state/statestore', body, { headers: { 'content-type': 'text/plain' } })).status, 204);
  t.is((await c.post('/v1.0/state/statestore', body)).status, 204);
  t.is((await c.get(`/v1.0/state/statestore/${k}`)).text(), '"x"');
});

test('request-level ?metadata.contentType / ttlInSeconds apply to every item (Dapr)', async (t) => {
  const c = t.context.h.demo.http.client;
  const k = key('qmeta');
  const res = await c.post('/v1.0/state/statestore?metadata.contentType=text/plain&metadata.ttlInSeconds=3600', [{ key: k, value: 'as text' }]);
  t.is(res.status, 204);
  const got = await c.get(`/v1.0/state/statestore/${k}`);
  t.is(got.text(), 'as text');
  t.regex(String(got.headers['content-type']), /^text\/plain/);
});
