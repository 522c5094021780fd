// Service invocation over HTTP (Dapr's /v1.0/invoke/{appId}/method/{method}) on one in-process
// agent: app `demo` (A) calls over its http.sock; app `b` answers over an AppCallback stream on
// its grpc.sock, held by a real grpc-js client.
import http from 'node:http';
import test, { type ExecutionContext } from 'ava';
import { CallbackApp, type Answer, type InvocationMsg } from '../helpers/callback-client.js';

import type { HttpClient } from '../helpers/http-client.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';

const B_TOKEN = 'b-token-0123456789abcdef';
const C_TOKEN = 'c-token-0123456789abcdef';
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

let rt: InProcess<'http'>;
let a: HttpClient;
const apps: CallbackApp[] = [];

test.before(async () => {
  rt = await startInProcess({
    transports: ['http'],
    apps: [
      { id: 'b', token: B_TOKEN, allow: { callers: ['demo'] } },
      { id: 'c', token: C_TOKEN, allow: { apps: ['*'] } },
    ],
  });
  await rt.startServer('b', 'grpc');
  a = rt.demo.http.client;
});
test.after.always(async () => {
  for (const app of apps) app.close();
  await rt?.close();
});

const bGrpcSocket = (): string => rt.config.apps.find((x) => x.id === 'b')!.grpcSocket;

/** An instance of b for one test: the agent has let go of it when the test ends, failed or not. */
async function instanceOfB(t: ExecutionContext, handler: (inv: InvocationMsg) => Answer | Promise<Answer>): Promise<CallbackApp> {
  const app = await CallbackApp.connect(bGrpcSocket(), B_TOKEN, handler);
  apps.push(app);
  t.teardown(() => stop(app));
  return app;
}

async function stop(app: CallbackApp): Promise<void> {
  app.close();
  await waitFor('the agent to drop the instance', () => !rt.callbacks.instances('b').some((i) => i.id === app.instanceId), { timeoutMs: 10_000, everyMs: 10 });
}

/**
 * A log line with every one of `parts`. The invocation's cancellation code is in its log line
 * only: the request's metrics count it as CANCELLED when the response closes, before that.
 */
function logHas(...parts: string[]): Promise<true> {
  return waitFor(`a log line with ${parts.join(', ')}`, () => rt.logText().split('\n').some((l) => parts.every((p) => l.includes(p))));
}

const echo = (inv: InvocationMsg): Answer => ({
  data: Buffer.concat([Buffer.from(`${inv.httpVerb} ${inv.method}:`), inv.data]),
  contentType: 'application/x-echo',
  metadata: { 'x-served-by': 'b', 'content-length': '999', 'hearth-secret': 'no' },
});

test.serial('A invokes B with POST and gets its answer; B sees verb, method, body, query, headers, caller, deadline and trace context', async (t) => {
  const b = await instanceOfB(t, echo);
  const res = await a.request({
    method: 'POST',
    path: '/v1.0/invoke/b/method/orders/42?expand=items&x=1',
    body: Buffer.from([0, 1, 2, 255]),
    headers: {
      'content-type': 'application/octet-stream',
      'x-tenant': 't1',
      traceparent: TRACEPARENT,
      'hearth-timeout-ms': '5000',
      'hearth-idempotent': 'true',
    },
  });
  t.is(res.status, 200, res.text());
  t.deepEqual(res.body, Buffer.concat([Buffer.from('POST orders/42:'), Buffer.from([0, 1, 2, 255])]));
  t.is(res.headers['content-type'], 'application/x-echo');
  t.is(res.headers['x-served-by'], 'b');
  t.is(res.headers['hearth-secret'], undefined, 'reserved metadata does not become a header');
  t.is(res.headers['content-length'], '19', 'the target cannot change the framing');

  const inv = b.received[0]!;
  t.is(inv.httpVerb, 'POST');
  t.is(inv.method, 'orders/42');
  t.is(inv.contentType, 'application/octet-stream');
  t.is(inv.callerAppId, 'demo');
  t.is(inv.traceparent, TRACEPARENT);
  t.is(inv.metadata.query, 'expand=items&x=1');
  t.is(inv.metadata['x-tenant'], 't1');
  for (const hidden of ['authorization', 'hearth-timeout-ms', 'hearth-idempotent', 'host', 'content-length', 'traceparent']) {
    t.false(hidden in inv.metadata, hidden);
  }
  t.true(inv.deadlineMs > 0 && inv.deadlineMs <= 5000, `deadlineMs ${inv.deadlineMs}`);
  await stop(b);
});

test.serial('every verb reaches B as that verb, nested method paths keep their slashes', async (t) => {
  const b = await instanceOfB(t, echo);
  for (const verb of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']) {
    const res = await a.request({ method: verb, path: `/v1.0/invoke/b/method/v1/items/${verb.toLowerCase()}/x`, body: verb === 'GET' || verb === 'HEAD' ? undefined : 'x' });
    t.is(res.status, 200, `${verb}: ${res.text()}`);
    if (verb !== 'HEAD') t.is(res.text(), `${verb} v1/items/${verb.toLowerCase()}/x:${verb === 'GET' ? '' : 'x'}`);
  }
  t.deepEqual(
    b.received.map((i) => i.httpVerb),
    ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'],
  );
  t.true(b.received.every((i) => i.method.startsWith('v1/items/')));
  await stop(b);
});

test.serial('a body without a content type arrives as is with an empty content type', async (t) => {
  const b = await instanceOfB(t, (inv) => ({ data: inv.data }));
  const res = await a.request({ method: 'POST', path: '/v1.0/invoke/b/method/raw', body: Buffer.from('{not json') });
  t.is(res.status, 200);
  t.is(res.text(), '{not json');
  t.is(res.headers['content-type'], 'application/octet-stream');
  t.is(b.received[0]!.contentType, '');
  await stop(b);
});

test.serial('allow.apps and allow.callers refusals: 403 PERMISSION_DENIED, B sees nothing', async (t) => {
  const b = await instanceOfB(t, echo);
  const byOther = await rt.other.http.client.post('/v1.0/invoke/b/method/m', 'x');
  t.is(byOther.status, 403);
  t.is(byOther.headers['hearth-error-code'], 'HEARTH_ERR_PERMISSION_DENIED');
  const c = rt.httpClient(rt.byId.c!.http.socket, C_TOKEN);
  const byC = await c.post('/v1.0/invoke/b/method/m', 'x');
  t.is(byC.status, 403);
  t.is(byC.json<{ errorCode: string }>().errorCode, 'HEARTH_ERR_PERMISSION_DENIED');
  t.is(b.received.length, 0);
  await stop(b);
});

test.serial('a wrong token: 401 UNAUTHENTICATED', async (t) => {
  const res = await a.post('/v1.0/invoke/b/method/m', 'x', { token: 'wrong-token' });
  t.is(res.status, 401);
  t.is(res.headers['hearth-error-code'], 'HEARTH_ERR_UNAUTHENTICATED');
});

test.serial('no callback stream for the target: 503 APP_UNAVAILABLE', async (t) => {
  const res = await a.post('/v1.0/invoke/b/method/m', 'x');
  t.is(res.status, 503);
  t.is(res.headers['hearth-error-code'], 'HEARTH_ERR_APP_UNAVAILABLE');
});

test.serial('B handler error: 500 APP_ERROR with details.appCode', async (t) => {
  const b = await instanceOfB(t, () => ({ error: { code: 'OUT_OF_STOCK', message: 'no more widgets' } }));
  const res = await a.post('/v1.0/invoke/b/method/buy', 'x');
  t.is(res.status, 500);
  const body = res.json<{ errorCode: string; message: string; details: { appCode: string } }>();
  t.is(body.errorCode, 'HEARTH_ERR_APP_ERROR');
  t.is(body.details.appCode, 'OUT_OF_STOCK');
  t.regex(body.message, /no more widgets/);
  await stop(b);
});

test.serial('a slow B with hearth-timeout-ms: 504 TIMEOUT', async (t) => {
  const b = await instanceOfB(t, () => null);
  const res = await a.post('/v1.0/invoke/b/method/slow', 'x', { headers: { 'hearth-timeout-ms': '200' } });
  t.is(res.status, 504);
  t.is(res.headers['hearth-error-code'], 'HEARTH_ERR_TIMEOUT');
  t.is(b.received.length, 1);
  await stop(b);
});

test.serial('an invalid hearth-timeout-ms: 400 INVALID_ARGUMENT', async (t) => {
  for (const bad of ['0', '-5', 'abc', '1.5', '99999999999']) {
    const res = await a.post('/v1.0/invoke/b/method/m', 'x', { headers: { 'hearth-timeout-ms': bad } });
    t.is(res.status, 400, bad);
    t.is(res.headers['hearth-error-code'], 'HEARTH_ERR_INVALID_ARGUMENT', bad);
  }
});

test.serial('a call whose budget is spent before its body arrived never reaches B: 504 TIMEOUT', async (t) => {
  const b = await instanceOfB(t, echo);
  const res = await new Promise<{ status: number; code: string | undefined }>((resolve, reject) => {
    const req = http.request(
      {
        socketPath: rt.demo.http.socket,
        method: 'POST',
        path: '/v1.0/invoke/b/method/late',
        headers: { authorization: `Bearer ${rt.demo.token}`, 'content-length': '4', 'hearth-timeout-ms': '50' },
      },
      (r) => {
        r.resume();
        r.on('end', () => resolve({ status: r.statusCode ?? 0, code: r.headers['hearth-error-code'] as string | undefined }));
      },
    );
    req.on('error', reject);
    req.write('ab');
    // The budget runs from the headers: it is spent by the time the body is complete.
    setTimeout(() => req.end('cd'), 300);
  });
  t.is(res.status, 504);
  t.is(res.code, 'HEARTH_ERR_TIMEOUT');
  t.is(b.received.length, 0);
  await stop(b);
});

test.serial('the client closing the request cancels B pending invocation on the agent (HEARTH_ERR_CANCELLED)', async (t) => {
  const b = await instanceOfB(t, () => null);
  const req = http.request({
    socketPath: rt.demo.http.socket,
    method: 'POST',
    path: '/v1.0/invoke/b/method/cancel-me',
    headers: { authorization: `Bearer ${rt.demo.token}`, 'content-length': '1', 'x-request-id': 'http-cancel-1' },
  });
  req.on('error', () => undefined); // the hang-up we cause
  req.end('x');
  await waitFor('B to receive the call', () => Promise.resolve(b.received.length === 1 ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });
  req.destroy();
  await logHas('http-cancel-1', 'HEARTH_ERR_CANCELLED');
  t.pass();
  await stop(b);
});
