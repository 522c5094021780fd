// Drain and observability: graceful close, forced close after the grace period, SSE streams
// ending on drain, connection counting, request ids, metrics, no tokens in logs, internal errors.
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import type { DestinationStream } from 'pino';
import type { RuntimeApi } from '../../agent/building-blocks/runtime-api.js';
import { AppRegistry } from '../../agent/apps/app-registry.js';
import { createLogger } from '../../agent/observability/logger.js';
import { AgentMetrics } from '../../agent/observability/metrics.js';
import { HttpAppServer } from '../../agent/transports/http/http-app-server.js';
import { HttpClient } from '../helpers/http-client.js';
import { DEMO_TOKEN, OTHER_TOKEN, startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';

async function withHarness(fn: (h: InProcess<'http'>) => Promise<void>): Promise<void> {
  const h = await startInProcess({ transports: ['http'] });
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test('x-request-id is echoed when given and generated otherwise', async (t) => {
  await withHarness(async (h) => {
    const c = h.demo.http.client;
    const given = await c.get('/v1.0/metadata', { headers: { 'x-request-id': 'req-abc-123' } });
    t.is(given.headers['x-request-id'], 'req-abc-123');
    const generated = await c.get('/v1.0/metadata');
    t.regex(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    // Errors carry it too, and an unprintable one is replaced.
    const err = await c.get('/v1.0/nope', { headers: { 'x-request-id': 'x'.repeat(500) } });
    t.is(err.status, 404);
    t.regex(String(err.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });
});

test('logs carry app and requestId and never a token', async (t) => {
  await withHarness(async (h) => {
    const c = h.demo.http.client;
    await c.get('/v1.0/state/statestore/k', { headers: { 'x-request-id': 'trace-me-1' } });
    await c.get('/v1.0/state/nosuch/k', { headers: { 'x-request-id': 'trace-me-2' } });
    await c.get('/v1.0/metadata', { token: 'wrong-token-xyz' });
    await c.get('/v1.0/metadata', { tokenHeader: 'dapr-api-token' });
    await h.other.http.client.get('/v1.0/metadata', { token: DEMO_TOKEN });
    // A request Node cannot parse (its raw bytes include the token).
    await new Promise<void>((resolve) => {
      const s = net.connect(h.demo.http.socket);
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      s.resume();
      s.end(`GET /v1.0/metadata HTTP/1.1\r\nauthorization: Bearer ${DEMO_TOKEN}\r\nbad header line\r\n\r\n`);
    });
    const logs = h.logText();
    t.regex(logs, /client error/);
    t.false(logs.includes('rawPacket'), 'raw request bytes (with the token) are not logged');
    t.false(logs.includes(DEMO_TOKEN));
    t.false(logs.includes(OTHER_TOKEN));
    t.false(logs.includes('wrong-token-xyz'));
    const line = logs.split('\n').find((l) => l.includes('trace-me-2'));
    t.truthy(line);
    const parsed = JSON.parse(line!) as { app: string; requestId: string; errorCode: string };
    t.is(parsed.app, 'demo');
    t.is(parsed.requestId, 'trace-me-2');
    t.is(parsed.errorCode, 'HEARTH_ERR_STORE_NOT_FOUND');
  });
});

test('metrics count requests per app, API and result code', async (t) => {
  await withHarness(async (h) => {
    const c = h.demo.http.client;
    const k = `m-${randomUUID()}`;
    await c.post('/v1.0/state/statestore', [{ key: k, value: 1 }]);
    await c.get(`/v1.0/state/statestore/${k}`);
    await c.get('/v1.0/state/nosuch/k');
    await c.get('/v1.0/nope');
    const text = await h.metrics.registry.metrics();
    t.regex(text, /hearth_requests_total\{app="demo",api="state\.save",transport="http",code="OK"\} 1/);
    t.regex(text, /hearth_requests_total\{app="demo",api="state\.get",transport="http",code="OK"\} 1/);
    t.regex(text, /hearth_requests_total\{app="demo",api="state\.get",transport="http",code="HEARTH_ERR_STORE_NOT_FOUND"\} 1/);
    t.regex(text, /hearth_requests_total\{app="demo",api="not_found",transport="http",code="HEARTH_ERR_NOT_FOUND"\} 1/);
    t.regex(text, /hearth_requests_in_flight\{app="demo",transport="http"\} 0/);
  });
});

test('connections() counts open connections', async (t) => {
  await withHarness(async (h) => {
    const a = h.httpClient(h.demo.http.socket, DEMO_TOKEN);
    const b = h.httpClient(h.demo.http.socket, DEMO_TOKEN);
    await Promise.all([a.get('/v1.0/metadata'), b.get('/v1.0/metadata')]);
    await waitFor('two connections', () => h.demo.http.server.connections() >= 2, { timeoutMs: 20_000, everyMs: 10 });
    a.close();
    b.close();
    h.demo.http.client.close();
    await waitFor('connections to close', () => h.demo.http.server.connections() === 0, { timeoutMs: 20_000, everyMs: 10 });
    t.pass();
  });
});

test('close(): in-flight requests finish with Connection: close, idle keep-alive connections close, socket stops accepting', async (t) => {
  await withHarness(async (h) => {
    const idle = h.httpClient(h.demo.http.socket, DEMO_TOKEN);
    t.is((await idle.get('/v1.0/metadata')).status, 200);
    const busy = h.httpClient(h.demo.http.socket, DEMO_TOKEN);
    const topic = `drain-${randomUUID().slice(0, 8)}`;
    const inFlight = busy.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/pull`, { waitMs: 500 });
    await waitFor('the long poll to be in flight', () => h.demo.http.server.connections() >= 2, { timeoutMs: 20_000, everyMs: 10 });

    const closing = h.demo.http.server.close(20_000);
    t.is(h.demo.http.server.close(20_000), closing, 'close() is idempotent');
    const res = await inFlight;
    t.is(res.status, 200);
    t.is(res.headers.connection, 'close');
    await closing;
    t.is(h.demo.http.server.connections(), 0);
    await t.throwsAsync(() => h.httpClient(h.demo.http.socket, DEMO_TOKEN).get('/v1.0/healthz'));
    // other app's server is unaffected.
    t.is((await h.other.http.client.get('/v1.0/healthz')).status, 204);
  });
});

test('close(): after graceMs remaining connections are destroyed', async (t) => {
  await withHarness(async (h) => {
    const c = h.httpClient(h.demo.http.socket, DEMO_TOKEN);
    const topic = `stuck-${randomUUID().slice(0, 8)}`;
    const stuck = c.post(`/v1.0-hearth/subscriptions/pubsub/${topic}/pull`, { waitMs: 30_000 });
    stuck.catch(() => undefined);
    await waitFor('the long poll to be in flight', () => h.demo.http.server.connections() >= 1, { timeoutMs: 20_000, everyMs: 10 });
    await h.demo.http.server.close(200);
    await t.throwsAsync(stuck);
    t.is(h.demo.http.server.connections(), 0);
  });
});

test('close(): SSE streams end with a coded close event', async (t) => {
  await withHarness(async (h) => {
    const stream = await h.demo.http.client.events('/v1.0-hearth/configuration/appconfig/subscribe');
    t.teardown(() => stream.close());
    t.is((await stream.next())?.event, 'configuration');
    const closing = h.demo.http.server.close(20_000);
    const last = await stream.next();
    t.is(last?.event, 'close');
    t.is(last?.json<{ errorCode: string }>().errorCode, 'HEARTH_ERR_DRAINING');
    await stream.waitEnd();
    await closing;
    t.pass();
  });
});

test('destroy() drops everything at once', async (t) => {
  await withHarness(async (h) => {
    const c = h.httpClient(h.demo.http.socket, DEMO_TOKEN);
    const stuck = c.post(`/v1.0-hearth/subscriptions/pubsub/d-${randomUUID().slice(0, 8)}/pull`, { waitMs: 30_000 });
    stuck.catch(() => undefined);
    await waitFor('the long poll to be in flight', () => h.demo.http.server.connections() >= 1, { timeoutMs: 20_000, everyMs: 10 });
    h.demo.http.server.destroy();
    await t.throwsAsync(stuck);
    await h.demo.http.server.close(1000);
    t.is(h.demo.http.server.connections(), 0);
  });
});

test('the socket is mode 0660', async (t) => {
  await withHarness(async (h) => {
    const s = await stat(h.demo.http.socket);
    t.true(s.isSocket());
    t.is(s.mode & 0o777, 0o660);
  });
});

test('socket owner and group are applied when numeric (numbers or numeric strings)', async (t) => {
  await withHarness(async (h) => {
    // As root prove the chown happened; otherwise chown to ourselves (always allowed).
    const root = process.getuid?.() === 0;
    const uid = root ? 1 : (process.getuid?.() ?? 0);
    const gid = root ? 2 : (process.getgid?.() ?? 0);
    const app = { ...h.config.apps[0]!, socket: { owner: String(uid), group: gid }, httpSocket: path.join(h.dir, 'o.sock') };
    const logger = createLogger({ level: 'silent' });
    const server = new HttpAppServer({ app, apps: new AppRegistry(h.config.apps), api: h.api, metrics: new AgentMetrics(), logger, limits: h.config.limits });
    await server.start();
    try {
      const s = await stat(app.httpSocket);
      t.is(s.uid, uid);
      t.is(s.gid, gid);
      t.is(s.mode & 0o777, 0o660);
    } finally {
      await server.close(1000);
    }
  });
});

test('a handler that throws a non-Hearth error answers 500 HEARTH_ERR_INTERNAL and logs it with the request id', async (t) => {
  await withHarness(async (h) => {
    const broken: RuntimeApi = {
      ...h.api,
      state: {
        ...h.api.state,
        get: async () => {
          throw new TypeError('boom: a bug');
        },
      },
    };
    const lines: string[] = [];
    const destination: DestinationStream = { write: (s: string) => void lines.push(s) };
    const logger = createLogger({ level: 'info', destination });
    const app = { ...h.config.apps[0]!, httpSocket: path.join(h.dir, 'b.sock') };
    const server = new HttpAppServer({ app, apps: new AppRegistry(h.config.apps), api: broken, metrics: new AgentMetrics(), logger, limits: h.config.limits });
    await server.start();
    const c = new HttpClient(app.httpSocket, { token: DEMO_TOKEN });
    try {
      const res = await c.get('/v1.0/state/statestore/k', { headers: { 'x-request-id': 'bug-1' } });
      t.is(res.status, 500);
      t.deepEqual(res.json(), { errorCode: 'HEARTH_ERR_INTERNAL', message: 'internal error' });
      t.is(res.headers['hearth-error-code'], 'HEARTH_ERR_INTERNAL');
      const line = lines.find((l) => l.includes('boom: a bug'));
      t.truthy(line);
      t.regex(line!, /"requestId":"bug-1"/);
      t.regex(line!, /"level":50/);
      t.is((await c.get('/v1.0/metadata')).status, 200);
    } finally {
      c.close();
      await server.close(1000);
    }
  });
});
