// The HTTP app channel against a real `hearth start` (2 workers): a plain node:http server, no
// SDK, is app `svc`; app `demo` invokes it through its http.sock as a Dapr app would. Asserted:
// the request arrives as Dapr delivers it (verb, method as path, query, headers, body, caller,
// trace context), the answer comes back as it was (status included), and every way the server can
// misbehave — absent, slow, garbage, too much — costs only that call, with a coded error.
// App `picky` has a health path: it gets invocations only while the check passes.
import test from 'ava';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HttpClient } from '../helpers/http-client.js';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import { waitFor } from '../support/wait.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const cleanups: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const MAX_BODY = 64 * 1024;
const seen: Seen[] = [];
let pickyHealthy = false;
let hearth: HearthProcess | undefined;
let demo: HttpClient | undefined;

async function serve(socketPath: string, handler: http.RequestListener): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
}

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hac-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await serve(path.join(dir, 'svc.sock'), (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(entry);
      if (req.url === '/slow') return; // never answers
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.alloc(MAX_BODY * 2, 1));
        return;
      }
      if (req.url === '/garbage') {
        req.socket.end('this is not HTTP\r\n\r\n');
        return;
      }
      if (req.url === '/hangup') {
        req.socket.destroy();
        return;
      }
      const status = req.url?.startsWith('/status/') === true ? Number(req.url.slice('/status/'.length)) : 200;
      res.writeHead(status, { 'content-type': 'application/json', 'x-answered-by': 'svc' });
      res.end(JSON.stringify({ method: entry.method, url: entry.url, body: entry.body }));
    });
  });
  await serve(path.join(dir, 'picky.sock'), (req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(pickyHealthy ? 200 : 503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('picky answered');
  });
  hearth = await startHearth({
    config: {
      limits: { maxBodyBytes: MAX_BODY },
      apps: [
        { id: 'demo', token: 'demo-token', allow: { apps: ['svc', 'strict', 'down', 'picky'] } },
        { id: 'other', token: 'other-token' },
        { id: 'svc', token: 'svc-token-0123456789', channel: { address: `unix:${path.join(dir, 'svc.sock')}`, timeoutMs: 5_000 } },
        // The same server, as an app whose channel sends a token and gives up after 300 ms.
        { id: 'strict', token: 'strict-token-0123456789', channel: { address: `unix:${path.join(dir, 'svc.sock')}`, timeoutMs: 300, appToken: 'channel-secret-0123456789' } },
        { id: 'down', token: 'down-token-0123456789', channel: { address: `unix:${path.join(dir, 'nobody-listens.sock')}` } },
        { id: 'picky', token: 'picky-token-0123456789', channel: { address: `unix:${path.join(dir, 'picky.sock')}`, healthPath: '/healthz', healthIntervalMs: 100 } },
      ],
    },
  });
  cleanups.push(() => hearth?.stop() ?? Promise.resolve());
  demo = new HttpClient(hearth.socket('demo', 'http'), { token: 'demo-token' });
});

function client(): HttpClient {
  if (demo === undefined) throw new Error('not started');
  return demo;
}

test.serial('an invocation arrives as Dapr delivers it: verb, method as path, query, headers, body, caller and trace', async (t) => {
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const res = await client().request({
    method: 'PUT',
    path: '/v1.0/invoke/svc/method/orders/42?x=1&y=two',
    headers: { 'content-type': 'text/plain', 'x-custom': 'kept', traceparent },
    body: 'order body',
  });
  t.is(res.status, 200, res.text());
  t.is(res.headers['x-answered-by'], 'svc');
  t.deepEqual(res.json(), { method: 'PUT', url: '/orders/42?x=1&y=two', body: 'order body' });
  const got = seen.at(-1);
  t.is(got?.headers['x-custom'], 'kept');
  t.is(got?.headers['content-type'], 'text/plain');
  t.is(got?.headers['dapr-caller-app-id'], 'demo');
  t.is(got?.headers.traceparent?.slice(0, 36), traceparent.slice(0, 36));
  // The caller's token never reaches the callee, and svc's channel has no token of its own.
  t.is(got?.headers.authorization, undefined);
  t.is(got?.headers['dapr-api-token'], undefined);
});

test.serial('a channel with appToken sends it; a status other than 200 (201, 204) comes back as it was', async (t) => {
  const created = await client().request({ method: 'POST', path: '/v1.0/invoke/strict/method/status/201', body: 'new' });
  t.is(created.status, 201);
  t.is(seen.at(-1)?.headers['dapr-api-token'], 'channel-secret-0123456789');
  const empty = await client().request({ method: 'DELETE', path: '/v1.0/invoke/svc/method/status/204' });
  t.is(empty.status, 204);
  t.is(seen.at(-1)?.method, 'DELETE');
});

test.serial('the channel\'s own timeoutMs ends a call the caller would have waited for', async (t) => {
  const res = await client().request({ method: 'POST', path: '/v1.0/invoke/strict/method/slow', body: '' });
  t.is(res.status, 504);
  t.is(res.headers['hearth-error-code'], 'HEARTH_ERR_TIMEOUT');
});

test.serial('a GET with a body keeps it; the callee\'s status comes back as it was', async (t) => {
  const get = await client().request({ method: 'GET', path: '/v1.0/invoke/svc/method/lookup', body: 'q' });
  t.is(get.status, 200);
  t.deepEqual(get.json(), { method: 'GET', url: '/lookup', body: 'q' });
  const missing = await client().request({ method: 'POST', path: '/v1.0/invoke/svc/method/status/404', body: '' });
  t.is(missing.status, 404);
  t.is(missing.json<{ url: string }>().url, '/status/404');
});

test.serial('a server nobody listens on: HEARTH_ERR_APP_UNAVAILABLE', async (t) => {
  const res = await client().request({ method: 'POST', path: '/v1.0/invoke/down/method/x', body: 'x' });
  t.is(res.status, 503);
  t.is(res.headers['hearth-error-code'], 'HEARTH_ERR_APP_UNAVAILABLE');
});

test.serial('slow, garbage, too much, hung up: each call fails with a code; the channel keeps serving', async (t) => {
  const slow = await client().request({ method: 'POST', path: '/v1.0/invoke/svc/method/slow', headers: { 'hearth-timeout-ms': '300' }, body: '' });
  t.is(slow.status, 504);
  t.is(slow.headers['hearth-error-code'], 'HEARTH_ERR_TIMEOUT');
  const huge = await client().request({ method: 'POST', path: '/v1.0/invoke/svc/method/huge', body: '' });
  t.is(huge.headers['hearth-error-code'], 'HEARTH_ERR_APP_ERROR');
  t.regex(huge.text(), /RESPONSE_TOO_LARGE|maxBodyBytes/);
  const garbage = await client().request({ method: 'POST', path: '/v1.0/invoke/svc/method/garbage', body: '' });
  t.is(garbage.headers['hearth-error-code'], 'HEARTH_ERR_APP_ERROR');
  t.regex(garbage.text(), /MALFORMED_RESPONSE|not HTTP/);
  const before = seen.filter((s) => s.url === '/hangup').length;
  const hangup = await client().request({ method: 'POST', path: '/v1.0/invoke/svc/method/hangup', body: '' });
  t.is(hangup.headers['hearth-error-code'], 'HEARTH_ERR_APP_UNAVAILABLE');
  // It reached the server, so it is never sent again (a POST is not idempotent).
  t.is(seen.filter((s) => s.url === '/hangup').length, before + 1);
  const after = await client().request({ method: 'POST', path: '/v1.0/invoke/svc/method/still-there', body: 'ok' });
  t.is(after.status, 200);
  t.is(after.json<{ body: string }>().body, 'ok');
});

test.serial('with a health path: no invocation while the check fails, delivered once it passes', async (t) => {
  const before = await client().request({ method: 'POST', path: '/v1.0/invoke/picky/method/x', body: '' });
  t.is(before.headers['hearth-error-code'], 'HEARTH_ERR_APP_UNAVAILABLE');
  pickyHealthy = true;
  const text = await waitFor('picky to be delivered to', async () => {
    const res = await client().request({ method: 'POST', path: '/v1.0/invoke/picky/method/x', body: '' });
    return res.status === 200 ? res.text() : undefined;
  });
  t.is(text, 'picky answered');
  pickyHealthy = false;
  await waitFor('picky to be taken out', async () => {
    const res = await client().request({ method: 'POST', path: '/v1.0/invoke/picky/method/x', body: '' });
    return res.headers['hearth-error-code'] === 'HEARTH_ERR_APP_UNAVAILABLE' ? true : undefined;
  });
  t.pass();
});
