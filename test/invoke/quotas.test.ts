// Per-app quotas: AppQuotas on its own (with a clock the test moves), then inside one in-process
// agent where a noisy app hammers its limits over gRPC and HTTP while a quiet app's calls all
// succeed, and every call — ok, failed, cancelled, refused — gives its slot back.
import http from 'node:http';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { AppQuotas } from '../../agent/apps/app-quotas.js';
import type { AppConfig } from '../../agent/config/load-config.js';
import { CallbackApp, failure, InvokeClient, type Answer, type InvocationMsg } from '../helpers/callback-client.js';

import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';

// ---- AppQuotas alone ----

function appWith(quota: Partial<AppConfig['quota']>): AppConfig {
  return { id: 'x', quota: { maxInFlight: 0, requestsPerSecond: 0, bytesPerSecond: 0, burstSeconds: 1, ...quota } } as AppConfig;
}

function refusal(t: { throws: (fn: () => unknown) => unknown }, fn: () => unknown): { code: string; details: unknown } {
  return t.throws(fn) as { code: string; details: unknown };
}

test('maxInFlight: the call past the limit is refused naming the quota; release is idempotent and frees one slot', (t) => {
  const q = new AppQuotas();
  const app = appWith({ maxInFlight: 2 });
  const r1 = q.admit(app, 0);
  q.admit(app, 0);
  const e = refusal(t, () => q.admit(app, 0));
  t.is(e.code, 'HEARTH_ERR_RESOURCE_EXHAUSTED');
  t.deepEqual(e.details, { quota: 'maxInFlight', limit: 2 });
  r1();
  r1();
  t.is(q.inFlight('x'), 1);
  q.admit(app, 0);
  t.throws(() => q.admit(app, 0));
});

test('requestsPerSecond: a burst of rate × burstSeconds, then one more per 1/rate seconds', (t) => {
  let now = 0;
  const q = new AppQuotas({ now: () => now });
  const app = appWith({ requestsPerSecond: 10, burstSeconds: 2 });
  for (let i = 0; i < 20; i++) q.admit(app, 0)();
  const e = refusal(t, () => q.admit(app, 0));
  t.deepEqual(e.details, { quota: 'requestsPerSecond', limit: 10 });
  now += 100;
  q.admit(app, 0)();
  t.throws(() => q.admit(app, 0));
  now += 10_000; // refills up to the burst, no more
  for (let i = 0; i < 20; i++) q.admit(app, 0)();
  t.throws(() => q.admit(app, 0));
});

test('bytesPerSecond: a message larger than the burst passes once, then the debt is paid back before the next', (t) => {
  let now = 0;
  const q = new AppQuotas({ now: () => now });
  const app = appWith({ bytesPerSecond: 100 });
  q.admit(app, 800)();
  const e = refusal(t, () => q.admit(app, 10));
  t.deepEqual(e.details, { quota: 'bytesPerSecond', limit: 100 });
  // In debt every call waits, a bodiless one too (else chunked bodies, which declare no bytes,
  // would never be held back by what they cost).
  t.throws(() => q.admit(app, 0));
  now += 7_000;
  t.throws(() => q.admit(app, 10)); // still 100 bytes in debt
  now += 1_500;
  q.admit(app, 10)();
  q.admit(app, 0)(); // a bodiless call costs no bytes
  q.admit(app, 0)();
});

test('a refused call costs nothing: zero limits are unlimited and a refusal takes no tokens', (t) => {
  let now = 0;
  const q = new AppQuotas({ now: () => now });
  const unlimited = appWith({});
  for (let i = 0; i < 10_000; i++) q.admit(unlimited, 1_000_000);
  t.is(q.inFlight('x'), 10_000);
  const app = { ...appWith({ requestsPerSecond: 1, maxInFlight: 1 }), id: 'y' } as AppConfig;
  const held = q.admit(app, 0);
  now += 5_000;
  t.is(refusal(t, () => q.admit(app, 0)).code, 'HEARTH_ERR_RESOURCE_EXHAUSTED'); // in flight: no token taken
  held();
  q.admit(app, 0)();
});

// ---- inside an agent ----

const T = {
  b: 'b-token-0123456789abcdef',
  noisy: 'noisy-token-0123456789ab',
  quiet: 'quiet-token-0123456789ab',
  narrow: 'narrow-token-0123456789a',
  bytes: 'bytes-token-0123456789ab',
};
const callAll = { apps: ['*'] };

let rt: InProcess<'http'>;
let b: CallbackApp;
const gate: ((a: Answer) => void)[] = [];
const clients: InvokeClient[] = [];

test.before(async () => {
  rt = await startInProcess({
    transports: ['http'],
    quotas: true,
    apps: [
      { id: 'b', token: T.b },
      { id: 'noisy', token: T.noisy, allow: callAll, quota: { requestsPerSecond: 2, burstSeconds: 1 } },
      { id: 'quiet', token: T.quiet, allow: callAll },
      { id: 'narrow', token: T.narrow, allow: callAll, quota: { maxInFlight: 2 } },
      { id: 'bytes', token: T.bytes, allow: callAll, quota: { bytesPerSecond: 100 } },
    ],
  });
  for (const id of ['b', 'noisy', 'quiet', 'narrow', 'bytes']) await rt.startServer(id, 'grpc');
  // b answers at once, except method `hold`, which waits for the test.
  b = await CallbackApp.connect(socketOf('b'), T.b, (inv: InvocationMsg) =>
    inv.method === 'hold' ? new Promise<Answer>((r) => gate.push(r)) : inv.method === 'fail' ? { error: { code: 'E', message: 'no' } } : { data: inv.data },
  );
});
test.after.always(async () => {
  b?.close();
  for (const c of clients) c.close();
  await rt?.close();
});

function socketOf(appId: string): string {
  return rt.config.apps.find((a) => a.id === appId)!.grpcSocket;
}

function grpcClient(appId: keyof typeof T, token: string = T[appId]): InvokeClient {
  const c = new InvokeClient(socketOf(appId), token);
  clients.push(c);
  return c;
}

const call = (method = 'm', data = Buffer.from('x')): Record<string, unknown> => ({ appId: 'b', method, data });

async function settled<T>(ps: Promise<T>[]): Promise<{ ok: number; codes: string[]; details: unknown[] }> {
  const out = { ok: 0, codes: [] as string[], details: [] as unknown[] };
  for (const p of ps) {
    const e = await failure(p).catch(() => undefined); // undefined: it succeeded
    if (e === undefined) {
      out.ok += 1;
      continue;
    }
    out.codes.push(e.hearthCode ?? String(e.code));
    out.details.push(e.detailsJson);
  }
  return out;
}

const inFlightIs = (appId: string, n: number): Promise<true> =>
  waitFor(`${appId} in flight to be ${n}`, () => Promise.resolve(rt.quotas!.inFlight(appId) === n ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });

test.serial('a noisy app past requestsPerSecond gets RESOURCE_EXHAUSTED while a quiet app on the same agent all succeed', async (t) => {
  const noisy = grpcClient('noisy');
  const quiet = grpcClient('quiet');
  const noisyCalls = Array.from({ length: 40 }, () => noisy.invoke(call()));
  const quietCalls = Array.from({ length: 40 }, () => quiet.invoke(call()));
  const n = await settled(noisyCalls);
  const q = await settled(quietCalls);
  t.is(q.ok, 40, `quiet failures: ${q.codes.join(', ')}`);
  t.true(n.ok >= 1, 'the burst is admitted');
  t.true(n.codes.length >= 1, 'the rest is refused');
  t.true(n.codes.every((c) => c === 'HEARTH_ERR_RESOURCE_EXHAUSTED'), n.codes.join(', '));
  t.deepEqual(n.details[0], { quota: 'requestsPerSecond', limit: 2 });

  // The same app over HTTP shares its quota (per app, not per transport): 429.
  const httpNoisy = rt.byId.noisy!.http.client;
  const responses = await Promise.all(Array.from({ length: 10 }, () => httpNoisy.post('/v1.0/invoke/b/method/m', 'x')));
  const codes = new Set(responses.map((r) => r.status));
  t.true(codes.has(429), [...codes].join(', '));
  await inFlightIs('noisy', 0);
});

test.serial('maxInFlight: the third concurrent call is refused; the quiet app is not affected; slots come back', async (t) => {
  const narrow = grpcClient('narrow');
  const held = [narrow.invoke(call('hold')), narrow.invoke(call('hold'))];
  await waitFor('two held calls at b', () => Promise.resolve(gate.length === 2 ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });
  const err = await failure(narrow.invoke(call()));
  t.is(err.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(err.hearthCode, 'HEARTH_ERR_RESOURCE_EXHAUSTED');
  t.deepEqual(err.detailsJson, { quota: 'maxInFlight', limit: 2 });
  const overHttp = await rt.byId.narrow!.http.client.post('/v1.0/invoke/b/method/m', 'x');
  t.is(overHttp.status, 429);
  t.deepEqual(overHttp.json<{ details: unknown }>().details, { quota: 'maxInFlight', limit: 2 });
  const quiet = await settled(Array.from({ length: 10 }, () => grpcClient('quiet').invoke(call())));
  t.is(quiet.ok, 10);
  gate.splice(0).forEach((r) => r({ data: Buffer.from('done') }));
  await Promise.all(held);
  await inFlightIs('narrow', 0);
  t.is((await narrow.invoke(call())).data.toString(), 'x');
});

test.serial('bytesPerSecond: a second large request right after the first is refused', async (t) => {
  const bytes = grpcClient('bytes');
  await bytes.invoke(call('m', Buffer.alloc(800)));
  const err = await failure(bytes.invoke(call('m', Buffer.alloc(800))));
  t.is(err.hearthCode, 'HEARTH_ERR_RESOURCE_EXHAUSTED');
  t.deepEqual(err.detailsJson, { quota: 'bytesPerSecond', limit: 100 });
  const overHttp = await rt.byId.bytes!.http.client.post('/v1.0/invoke/b/method/m', Buffer.alloc(800));
  t.is(overHttp.status, 429);
  await inFlightIs('bytes', 0);
});

test.serial('every path gives the slot back: ok, app error, unavailable, refused, timeout, cancelled, bad token — over gRPC and HTTP', async (t) => {
  const quiet = grpcClient('quiet');
  await quiet.invoke(call());
  await t.throwsAsync(quiet.invoke(call('fail')));
  await t.throwsAsync(quiet.invoke({ appId: 'quiet', method: 'm', data: Buffer.alloc(0) })); // no instance
  await t.throwsAsync(quiet.invoke({ appId: 'Not An App', method: 'm', data: Buffer.alloc(0) })); // invalid
  await t.throwsAsync(quiet.invoke(call('hold'), { timeoutMs: 200 }));
  const { call: cancelled, response } = quiet.start(call('hold'));
  await waitFor('the held call at b', () => Promise.resolve(gate.length >= 2 ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });
  cancelled.cancel();
  await t.throwsAsync(response);
  await t.throwsAsync(grpcClient('quiet', 'wrong').invoke(call()));

  const h = rt.byId.quiet!.http.client;
  t.is((await h.post('/v1.0/invoke/b/method/m', 'x')).status, 200);
  t.is((await h.post('/v1.0/invoke/b/method/fail', 'x')).status, 500);
  t.is((await h.post('/v1.0/invoke/b/method/hold', 'x', { headers: { 'hearth-timeout-ms': '100' } })).status, 504);
  t.is((await h.post('/v1.0/invoke/b/method/m', 'x', { headers: { 'hearth-timeout-ms': 'soon' } })).status, 400);
  t.is((await h.get('/v1.0/state/statestore/k')).status, 204);
  const req = http.request({
    socketPath: rt.byId.quiet!.http.socket,
    method: 'POST',
    path: '/v1.0/invoke/b/method/hold',
    headers: { authorization: `Bearer ${T.quiet}`, 'content-length': '1' },
  });
  req.on('error', () => undefined);
  req.end('x');
  await waitFor('the held HTTP call at b', () => Promise.resolve(gate.length >= 4 ? true : undefined), { timeoutMs: 10_000, everyMs: 10 });
  req.destroy();

  await inFlightIs('quiet', 0);
  gate.splice(0).forEach((r) => r({ data: Buffer.from('late') }));
  t.pass();
});

test.serial('an open callback stream holds one slot of its app until it ends', async (t) => {
  t.is(rt.quotas!.inFlight('b'), 1);
  const second = await CallbackApp.connect(socketOf('b'), T.b, () => ({}));
  t.is(rt.quotas!.inFlight('b'), 2);
  second.close();
  await inFlightIs('b', 1);
});
