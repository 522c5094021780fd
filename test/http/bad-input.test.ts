// Broken requests get a coded error and never hurt the server: after each one, it still serves.
import http from 'node:http';
import net from 'node:net';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { buildCloudEvent } from '../../agent/building-blocks/cloud-event.js';
import { decodeValue } from '../../agent/transports/http/routes/state-routes.js';
import type { HttpResponse } from '../helpers/http-client.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

const test = anyTest as TestFn<{ h: InProcess<'http'> }>;

const MAX_BODY = 4096;
const MAX_KEY = 64;

test.before(async (t) => {
  t.context.h = await startInProcess({ transports: ['http'], limits: { maxBodyBytes: MAX_BODY, maxKeyBytes: MAX_KEY } });
});
test.after.always(async (t) => {
  await t.context.h?.close();
});

interface ErrorBody {
  errorCode: string;
  message: string;
}

/** Asserts the status and coded body, then that the same server still answers. */
async function expectError(t: ExecutionContext<{ h: InProcess<'http'> }>, res: HttpResponse, status: number, code: string): Promise<ErrorBody> {
  t.is(res.status, status, res.text());
  t.is(res.headers['hearth-error-code'], code);
  t.regex(String(res.headers['content-type']), /^application\/json/);
  const body = res.json<ErrorBody>();
  t.is(body.errorCode, code);
  t.is(typeof body.message, 'string');
  const health = await t.context.h.demo.http.client.get('/v1.0/metadata');
  t.is(health.status, 200);
  return body;
}

test('malformed JSON is 400 HEARTH_ERR_MALFORMED_REQUEST', async (t) => {
  const c = t.context.h.demo.http.client;
  await expectError(t, await c.post('/v1.0/state/statestore', '[{"key": "a", "value": ', { headers: { 'content-type': 'application/json' } }), 400, 'HEARTH_ERR_MALFORMED_REQUEST');
  await expectError(t, await c.post('/v1.0/state/statestore', 'not json at all'), 400, 'HEARTH_ERR_MALFORMED_REQUEST');
});

test('an empty body on a JSON route is 400 HEARTH_ERR_MALFORMED_REQUEST', async (t) => {
  const c = t.context.h.demo.http.client;
  await expectError(t, await c.post('/v1.0/state/statestore', '', { headers: { 'content-type': 'application/json' } }), 400, 'HEARTH_ERR_MALFORMED_REQUEST');
  await expectError(t, await c.post('/v1.0/state/statestore'), 400, 'HEARTH_ERR_MALFORMED_REQUEST');
});

test('prototype poisoning in JSON is refused', async (t) => {
  const c = t.context.h.demo.http.client;
  const body = '[{"key":"p","value":{"__proto__":{"polluted":true}}}]';
  await expectError(t, await c.post('/v1.0/state/statestore', body, { headers: { 'content-type': 'application/json' } }), 400, 'HEARTH_ERR_MALFORMED_REQUEST');
  t.is(({} as Record<string, unknown>).polluted, undefined);
});

test('JSON nested deeper than 100 levels is 400 HEARTH_ERR_MALFORMED_REQUEST before it is parsed; 100 levels are fine', async (t) => {
  const c = t.context.h.demo.http.client;
  const nest = (levels: number): string => `${'['.repeat(levels - 2)}1${']'.repeat(levels - 2)}`;
  // The array of items and its object are two levels; the value the rest.
  const body = (levels: number): string => `[{"key":"deep","value":${nest(levels)}}]`;
  const refused = await expectError(t, await c.post('/v1.0/state/statestore', body(101), { headers: { 'content-type': 'application/json' } }), 400, 'HEARTH_ERR_MALFORMED_REQUEST');
  t.regex(refused.message, /nests deeper than 100 levels/);
  // Brackets inside strings do not count.
  t.is((await c.post('/v1.0/state/statestore', `[{"key":"s","value":"${'['.repeat(500)}"}]`)).status, 204);
  t.is((await c.post('/v1.0/state/statestore', body(100), { headers: { 'content-type': 'application/json' } })).status, 204);
});

test('JSON too deep to parse safely travels as bytes: a stored value in a bulk get as text, a published one as data_base64', (t) => {
  const deep = '['.repeat(5_000) + ']'.repeat(5_000);
  t.is(decodeValue(Buffer.from(deep), 'application/json'), deep);
  t.deepEqual(decodeValue(Buffer.from('[[1]]'), 'application/json'), [[1]]);
  const event = JSON.parse(buildCloudEvent({ appId: 'demo', pubsubName: 'p', topic: 't', data: Buffer.from(deep), contentType: 'application/json', metadata: {} }).toString()) as Record<string, unknown>;
  t.is(event.data, undefined);
  t.is(Buffer.from(event.data_base64 as string, 'base64').toString(), deep);
  t.is(event.datacontenttype, 'application/json');
  // A CloudEvent of the app's own that deep is refused with a code.
  const err = t.throws(() => buildCloudEvent({ appId: 'demo', pubsubName: 'p', topic: 't', data: Buffer.from(`{"data":${deep}}`), contentType: 'application/cloudevents+json', metadata: {} }));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_INVALID_ARGUMENT');
});

test('a body over limits.maxBodyBytes is 413 HEARTH_ERR_BODY_TOO_LARGE', async (t) => {
  const c = t.context.h.demo.http.client;
  const big = [{ key: 'big', value: 'x'.repeat(MAX_BODY * 2) }];
  await expectError(t, await c.post('/v1.0/state/statestore', big), 413, 'HEARTH_ERR_BODY_TOO_LARGE');
  await expectError(t, await c.post('/v1.0/publish/pubsub/orders', Buffer.alloc(MAX_BODY + 1, 1), { headers: { 'content-type': 'application/octet-stream' } }), 413, 'HEARTH_ERR_BODY_TOO_LARGE');
});

test('control characters in a key are 400 HEARTH_ERR_INVALID_KEY', async (t) => {
  const c = t.context.h.demo.http.client;
  await expectError(t, await c.get('/v1.0/state/statestore/a%01b'), 400, 'HEARTH_ERR_INVALID_KEY');
  await expectError(t, await c.post('/v1.0/state/statestore', [{ key: 'line\nbreak', value: 1 }]), 400, 'HEARTH_ERR_INVALID_KEY');
});

test('a key over limits.maxKeyBytes is 400 HEARTH_ERR_INVALID_KEY (not a router 404)', async (t) => {
  const c = t.context.h.demo.http.client;
  const long = 'k'.repeat(MAX_KEY + 1);
  await expectError(t, await c.get(`/v1.0/state/statestore/${long}`), 400, 'HEARTH_ERR_INVALID_KEY');
  await expectError(t, await c.post('/v1.0/state/statestore', [{ key: long, value: 1 }]), 400, 'HEARTH_ERR_INVALID_KEY');
  await expectError(t, await c.get(`/v1.0/state/statestore/${'k'.repeat(2000)}`), 400, 'HEARTH_ERR_INVALID_KEY');
});

test('an empty key is 400 HEARTH_ERR_INVALID_KEY', async (t) => {
  await expectError(t, await t.context.h.demo.http.client.post('/v1.0/state/statestore', [{ key: '', value: 1 }]), 400, 'HEARTH_ERR_INVALID_KEY');
});

test('an unknown store is 400 HEARTH_ERR_STORE_NOT_FOUND', async (t) => {
  const c = t.context.h.demo.http.client;
  const body = await expectError(t, await c.get('/v1.0/state/nosuchstore/k'), 400, 'HEARTH_ERR_STORE_NOT_FOUND');
  t.regex(body.message, /nosuchstore/);
  await expectError(t, await c.post('/v1.0-alpha1/lock/nosuchstore', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 5 }), 400, 'HEARTH_ERR_STORE_NOT_FOUND');
  await expectError(t, await c.get('/v1.0/configuration/nosuchstore?key=a'), 400, 'HEARTH_ERR_STORE_NOT_FOUND');
});

test('an unknown route or method is 404 HEARTH_ERR_NOT_FOUND', async (t) => {
  const c = t.context.h.demo.http.client;
  await expectError(t, await c.get('/v1.0/nothing/here'), 404, 'HEARTH_ERR_NOT_FOUND');
  await expectError(t, await c.request({ method: 'PUT', path: '/v1.0/state/statestore/k', body: {} }), 404, 'HEARTH_ERR_NOT_FOUND');
  await expectError(t, await c.get('/v2/state/statestore/k'), 404, 'HEARTH_ERR_NOT_FOUND');
});

test('wrong types in a body are 400 HEARTH_ERR_INVALID_ARGUMENT naming the path', async (t) => {
  const c = t.context.h.demo.http.client;
  let body = await expectError(t, await c.post('/v1.0/state/statestore', [{ key: 1, value: 1 }]), 400, 'HEARTH_ERR_INVALID_ARGUMENT');
  t.regex(body.message, /body\[0\]\.key/);
  body = await expectError(t, await c.post('/v1.0/state/statestore', { key: 'k', value: 1 }), 400, 'HEARTH_ERR_INVALID_ARGUMENT');
  t.regex(body.message, /^body: must be array/);
  body = await expectError(t, await c.post('/v1.0/state/statestore', [{ value: 1 }]), 400, 'HEARTH_ERR_INVALID_ARGUMENT');
  t.regex(body.message, /body\[0\]\.key: is required/);
  body = await expectError(t, await c.post('/v1.0/state/statestore', [{ key: 'k', value: 1, options: { concurrency: 'sometimes' } }]), 400, 'HEARTH_ERR_INVALID_ARGUMENT');
  t.regex(body.message, /body\[0\]\.options\.concurrency: must be one of/);
  body = await expectError(t, await c.post('/v1.0/state/statestore/bulk', { keys: 'a' }), 400, 'HEARTH_ERR_INVALID_ARGUMENT');
  t.regex(body.message, /body\.keys/);
  body = await expectError(t, await c.post('/v1.0-alpha1/lock/lockstore', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: '5' }), 400, 'HEARTH_ERR_INVALID_ARGUMENT');
  t.regex(body.message, /body\.expiryInSeconds: must be integer/);
  body = await expectError(t, await c.post('/v1.0-hearth/subscriptions/pubsub/orders/pull', { waitMs: 60_000 }), 400, 'HEARTH_ERR_INVALID_ARGUMENT');
  t.regex(body.message, /body\.waitMs/);
  body = await expectError(t, await c.post('/v1.0-hearth/subscriptions/pubsub/orders/ack', { deliveryIds: [] }), 400, 'HEARTH_ERR_INVALID_ARGUMENT');
  t.regex(body.message, /body\.deliveryIds/);
});

test('an unparseable Content-Type is 400 HEARTH_ERR_MALFORMED_REQUEST', async (t) => {
  const res = await t.context.h.demo.http.client.post('/v1.0/publish/pubsub/orders', 'x', { headers: { 'content-type': '/;;;' } });
  await expectError(t, res, 400, 'HEARTH_ERR_MALFORMED_REQUEST');
});

test('garbage that is not HTTP gets a coded 400 and the connection closed', async (t) => {
  const socketPath = t.context.h.demo.http.socket;
  const reply = await new Promise<string>((resolve, reject) => {
    const s = net.connect(socketPath);
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('utf8')));
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.write('HELLO THERE\r\n\r\n');
  });
  t.regex(reply, /^HTTP\/1\.1 400/);
  t.regex(reply, /HEARTH_ERR_MALFORMED_REQUEST/);
  t.is((await t.context.h.demo.http.client.get('/v1.0/metadata')).status, 200);
});

test('a client that hangs up mid-body does not hurt the server', async (t) => {
  const socketPath = t.context.h.demo.http.socket;
  await new Promise<void>((resolve) => {
    const req = http.request({
      socketPath,
      method: 'POST',
      path: '/v1.0/state/statestore',
      headers: { authorization: `Bearer ${t.context.h.demo.token}`, 'content-type': 'application/json', 'content-length': '1000' },
    });
    req.on('error', () => resolve());
    req.write('[{"key":');
    setTimeout(() => {
      req.destroy();
      resolve();
    }, 50);
  });
  t.is((await t.context.h.demo.http.client.get('/v1.0/metadata')).status, 200);
});
