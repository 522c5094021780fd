// Observability of a real `hearth start` (two workers): /metrics on admin.sock summed across
// workers, request log lines with app and request id, tokens never in the output, health and
// readiness, and `hearth status --json` connection counts.
import { createHash } from 'node:crypto';
import net from 'node:net';
import test from 'ava';
import type { StatusReport } from '../../ops-agent/status-report.js';
import type { GrpcClients } from '../helpers/grpc-client.js';
import { runHearthCli, startHearth, type HearthProcess } from '../support/hearth-process.js';
import type { HttpClient } from '../helpers/http-client.js';
import { grpcConnection, httpClient, httpClientPerWorker, metricSum, parseMetrics, servedBy, TOKENS, uniq, type Sample } from './e2e-helpers.js';
import { waitFor } from '../support/wait.js';

let h: HearthProcess;
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

test.before(async () => {
  h = await startHearth({
    config: {
      // trace: the most the agent ever logs, for the redaction check. Tokens only as hashes in
      // the file, so the start banner cannot print one either: any token in the output leaked.
      logLevel: 'trace',
      apps: [
        { id: 'demo', tokenSha256: sha256(TOKENS.demo) },
        { id: 'other', tokenSha256: sha256(TOKENS.other) },
      ],
    },
  });
});
test.after.always(async () => {
  await h?.stop();
});

/** One scrape; a scrape without the workers' metrics throws (waitFor retries), so a zero is never "nothing from the workers". */
async function metrics(): Promise<Sample[]> {
  const res = await h.admin('/metrics');
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const samples = parseMetrics(res.body);
  if (!samples.some((s) => s.name === 'hearth_worker_process_cpu_user_seconds_total')) throw new Error('a /metrics scrape without the workers\' metrics');
  return samples;
}

async function statusJson(): Promise<StatusReport> {
  const r = await runHearthCli(['status', '--run-dir', h.runDir, '--json']);
  if (r.code !== 0) throw new Error(`hearth status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusReport;
}

// Serial: the tests count exact request and connection numbers of app `other`.
test.serial('/healthz and /readyz are 200; /metrics is Prometheus text', async (t) => {
  t.is((await h.admin('/healthz')).status, 200);
  t.is((await h.admin('/readyz')).status, 200);
  const m = await h.admin('/metrics');
  t.is(m.status, 200);
  t.regex(m.body, /^# TYPE hearth_requests_total counter$/m);
  t.regex(m.body, /^# TYPE hearth_request_duration_seconds histogram$/m);
});

test.serial('back-to-back /metrics scrapes each carry every worker\'s metrics', async (t) => {
  // Workers answer over JSON IPC; a sample that is NaN right after the previous scrape (prom-client's
  // event-loop lag mean with no samples yet) must not make the ops-agent drop a worker's answer.
  const failures = (body: string): number => metricSum(parseMetrics(body), 'hearth_ops_ipc_failures_total', { request: 'metrics' });
  const first = await h.admin('/metrics');
  for (let i = 0; i < 4; i++) {
    const res = await h.admin('/metrics');
    t.is(res.status, 200);
    t.true(/^hearth_worker_process_cpu_user_seconds_total /m.test(res.body), `scrape ${i + 2} has the workers' metrics`);
  }
  const last = await h.admin('/metrics');
  t.is(failures(last.body), failures(first.body), 'no worker answer was lost');
});

test.serial('hearth_requests_total and the latency histogram sum both workers, by app, api, transport and code', async (t) => {
  const pids = (await h.status()).workers.map((w) => w.pid);
  const grpcServed = new Set<number>();
  let grpcCalls = 0;
  while (grpcCalls < 20 || grpcServed.size < pids.length) {
    if (grpcCalls > 200) return t.fail('gRPC calls never reached both workers');
    const conn = grpcConnection(h, 'other');
    const md = conn.authMetadata();
    const id = uniq('m-grpc');
    md.set('x-request-id', id);
    try {
      await conn.sequencer.GetNextId({ storeName: 'default', key: 'metrics' }, md);
    } finally {
      conn.close();
    }
    grpcCalls++;
    grpcServed.add(await servedBy(h, id));
  }
  const httpServed = new Set<number>();
  let httpCalls = 0;
  while (httpCalls < 20 || httpServed.size < pids.length) {
    if (httpCalls > 200) return t.fail('HTTP requests never reached both workers');
    const once = httpClient(h, 'other', { keepAlive: false });
    const id = uniq('m-http');
    try {
      const res = await once.get('/v1.0/state/nosuch/k', { headers: { 'x-request-id': id } });
      t.is(res.status, 400);
    } finally {
      once.close();
    }
    httpCalls++;
    httpServed.add(await servedBy(h, id));
  }

  const m = await metrics();
  const grpcLabels = { app: 'other', api: 'sequencer.next', transport: 'grpc' };
  t.is(metricSum(m, 'hearth_requests_total', { ...grpcLabels, code: 'OK' }), grpcCalls);
  t.is(metricSum(m, 'hearth_requests_total', { app: 'other', api: 'state.get', transport: 'http', code: 'HEARTH_ERR_STORE_NOT_FOUND' }), httpCalls);
  t.is(metricSum(m, 'hearth_request_duration_seconds_count', grpcLabels), grpcCalls);
  t.is(metricSum(m, 'hearth_request_duration_seconds_bucket', { ...grpcLabels, le: '+Inf' }), grpcCalls);
  t.true(metricSum(m, 'hearth_request_duration_seconds_sum', grpcLabels) > 0);
  t.true(metricSum(m, 'hearth_request_bytes_total', { app: 'other', transport: 'grpc' }) > 0);
  t.true(metricSum(m, 'hearth_response_bytes_total', { app: 'other', transport: 'grpc' }) > 0);
  // Nothing of app other was counted under demo.
  t.is(metricSum(m, 'hearth_requests_total', { app: 'demo', api: 'sequencer.next' }), 0);
});

test.serial('HTTP response bytes are counted in hearth_response_bytes_total', async (t) => {
  const c = httpClient(h, 'other');
  t.teardown(() => c.close());
  const before = metricSum(await metrics(), 'hearth_response_bytes_total', { app: 'other', transport: 'http' });
  let sent = 0;
  for (let i = 0; i < 5; i++) {
    const res = await c.get('/v1.0/metadata');
    t.is(res.status, 200);
    sent += res.body.length;
  }
  const after = metricSum(await metrics(), 'hearth_response_bytes_total', { app: 'other', transport: 'http' });
  t.true(after - before >= sent, `counted ${after - before} of the ${sent} body bytes sent`);
});

test.serial('the same operation has the same api label on gRPC and HTTP', async (t) => {
  const g = grpcConnection(h, 'other');
  const c = httpClient(h, 'other');
  t.teardown(() => {
    g.close();
    c.close();
  });
  const k = uniq('labels');
  await g.state.SaveState({ storeName: 'default', states: [{ key: k, value: Buffer.from('1') }] });
  await g.state.GetState({ storeName: 'default', key: k });
  await g.state.GetBulkState({ storeName: 'default', keys: [k] });
  await g.state.ExecuteStateTransaction({ storeName: 'default', operations: [{ operationType: 'upsert', request: { key: k, value: Buffer.from('2') } }] });
  await g.state.DeleteState({ storeName: 'default', key: k });
  await g.lock.TryLock({ storeName: 'default', resourceId: k, lockOwner: 'o', expiryInSeconds: 5 });
  await g.lock.KeepAlive({ storeName: 'default', resourceId: k, lockOwner: 'o', expiryInSeconds: 5 });
  await g.lock.Unlock({ storeName: 'default', resourceId: k, lockOwner: 'o' });
  await g.pubsub.Publish({ pubsubName: 'default', topic: 'labels', data: Buffer.from('x'), dataContentType: 'text/plain' });
  await g.metadata.GetMetadata({});

  for (const [method, path, body] of [
    ['POST', '/v1.0/state/default', [{ key: k, value: 1 }]],
    ['GET', `/v1.0/state/default/${k}`, undefined],
    ['POST', '/v1.0/state/default/bulk', { keys: [k] }],
    ['POST', '/v1.0/state/default/transaction', { operations: [{ operation: 'upsert', request: { key: k, value: 2 } }] }],
    ['DELETE', `/v1.0/state/default/${k}`, undefined],
    ['POST', '/v1.0-alpha1/lock/default', { resourceId: k, lockOwner: 'o', expiryInSeconds: 5 }],
    ['POST', '/v1.0-hearth/lock/default/keepalive', { resourceId: k, lockOwner: 'o', expiryInSeconds: 5 }],
    ['POST', '/v1.0-alpha1/unlock/default', { resourceId: k, lockOwner: 'o' }],
    ['POST', '/v1.0/publish/default/labels', { x: 1 }],
    ['GET', '/v1.0/metadata', undefined],
  ] as const) {
    const res = await c.request({ method, path, body });
    t.true(res.status < 300, `${method} ${path}: ${res.status} ${res.text()}`);
  }
  const m = await metrics();
  const apis = (transport: string): string[] =>
    [...new Set(m.filter((s) => s.name === 'hearth_requests_total' && s.labels.app === 'other' && s.labels.transport === transport && s.labels.code === 'OK').map((s) => s.labels.api ?? ''))]
      .filter((a) => a !== 'sequencer.next') // only on gRPC in the test before
      .sort();
  t.deepEqual(apis('grpc'), apis('http'));
});

test.serial('in-flight requests are counted while a long poll waits', async (t) => {
  const c = httpClient(h, 'other');
  const g = grpcConnection(h, 'other');
  t.teardown(() => {
    c.close();
    g.close();
  });
  const topic = `other-inflight-${uniq('t')}`;
  await c.post(`/v1.0-hearth/subscriptions/default/${topic}/pull`, { waitMs: 0 });
  const waiting = c.post(`/v1.0-hearth/subscriptions/default/${topic}/pull`, { waitMs: 30_000 });
  await waitFor('the long poll in flight', async () =>
    metricSum(await metrics(), 'hearth_requests_in_flight', { app: 'other', transport: 'http' }) >= 1 ? true : undefined,
  );
  await g.pubsub.Publish({ pubsubName: 'default', topic, data: Buffer.from('wake'), dataContentType: 'text/plain' });
  const res = await waiting;
  t.is(res.status, 200);
  t.is(res.json<{ deliveries: unknown[] }>().deliveries.length, 1);
  await waitFor('nothing in flight', async () =>
    metricSum(await metrics(), 'hearth_requests_in_flight', { app: 'other', transport: 'http' }) === 0 ? true : undefined,
  );
  t.pass();
});

test.serial('open connections show in hearth_connections and `hearth status --json`, and go away when closed', async (t) => {
  const connCount = async (transport: string): Promise<number> => metricSum(await metrics(), 'hearth_connections', { app: 'other', transport });
  await waitFor('no connection of app other left from earlier tests', async () =>
    (await connCount('grpc')) === 0 && (await connCount('http')) === 0 ? true : undefined,
  );
  const grpcConns: GrpcClients[] = [];
  const httpConns: HttpClient[] = [];
  t.teardown(() => [...grpcConns, ...httpConns].forEach((x) => x.close()));
  for (let i = 0; i < 4; i++) {
    const conn = grpcConnection(h, 'other');
    await conn.metadata.GetMetadata({});
    grpcConns.push(conn);
  }
  for (let i = 0; i < 3; i++) {
    const client = httpClient(h, 'other');
    t.is((await client.get('/v1.0/metadata')).status, 200);
    httpConns.push(client);
  }
  await waitFor('the connections counted', async () => ((await connCount('grpc')) === 4 && (await connCount('http')) === 3 ? true : undefined));
  const s = await statusJson();
  t.deepEqual(s.apps.find((a) => a.id === 'other')?.connections, { grpc: 4, http: 3, wire: 0 });
  t.true(s.workers.length === 2 && s.ready);

  for (const x of [...grpcConns, ...httpConns]) x.close();
  await waitFor('the connections gone', async () => ((await connCount('grpc')) === 0 && (await connCount('http')) === 0 ? true : undefined));
  t.deepEqual((await statusJson()).apps.find((a) => a.id === 'other')?.connections, { grpc: 0, http: 0, wire: 0 });
});

interface LogLine {
  level: number;
  pid: number;
  role?: string;
  app?: string;
  requestId?: string;
  api?: string;
  code?: string;
  msg: string;
}

function logLines(): LogLine[] {
  return h
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

test.serial('request log lines carry app and requestId; ids are echoed, generated when missing, refused when unprintable', async (t) => {
  const g = grpcConnection(h, 'demo');
  const c = httpClient(h, 'demo');
  t.teardown(() => {
    g.close();
    c.close();
  });
  const grpcId = uniq('log-grpc');
  const md = g.authMetadata();
  md.set('x-request-id', grpcId);
  await g.sequencer.GetNextId({ storeName: 'default', key: 'logs' }, md);
  await servedBy(h, grpcId);
  const grpcLine = logLines().find((l) => l.requestId === grpcId);
  t.like(grpcLine, { app: 'demo', api: 'sequencer.next', code: 'OK', role: 'worker' });

  const httpId = uniq('log-http');
  const res = await c.get('/v1.0/state/nosuch/k', { headers: { 'x-request-id': httpId } });
  t.is(res.headers['x-request-id'], httpId);
  await servedBy(h, httpId);
  t.like(
    logLines().find((l) => l.requestId === httpId),
    { app: 'demo', role: 'worker' },
  );

  // No id given: one is generated, returned, and on the log line.
  const anon = await c.get('/v1.0/state/nosuch/k');
  const generated = String(anon.headers['x-request-id']);
  t.regex(generated, /^[\x21-\x7e]{8,128}$/);
  t.is((await servedBy(h, generated)) > 0, true);
  // An id a client could abuse (too long) is replaced.
  const tooLong = 'x'.repeat(300);
  const replaced = await c.get('/v1.0/metadata', { headers: { 'x-request-id': tooLong } });
  t.not(replaced.headers['x-request-id'], tooLong);
  t.truthy(replaced.headers['x-request-id']);

  // Every worker line about a request names the app.
  const requestLines = logLines().filter((l) => l.role === 'worker' && l.requestId !== undefined);
  t.true(requestLines.length > 0);
  t.deepEqual(
    requestLines.filter((l) => l.app === undefined).map((l) => l.msg),
    [],
  );
});

test.serial('tokens appear nowhere in the output, whatever carried them', async (t) => {
  const demoG = grpcConnection(h, 'demo');
  const wrongG = grpcConnection(h, 'demo', TOKENS.other);
  const c = httpClient(h, 'demo');
  t.teardown(() => [demoG, wrongG, c].forEach((x) => x.close()));
  const k = uniq('secret');
  // Good and bad requests, with the token in every place a client puts it.
  await demoG.state.SaveState({ storeName: 'default', states: [{ key: k, value: Buffer.from('x') }] });
  await wrongG.state.GetState({ storeName: 'default', key: k }).catch(() => undefined);
  await c.get(`/v1.0/state/default/${k}`);
  await c.get(`/v1.0/state/default/${k}`, { token: TOKENS.other });
  await c.request({ method: 'GET', path: `/v1.0/state/default/${k}`, tokenHeader: 'dapr-api-token' });
  await c.request({ method: 'GET', path: '/v1.0/state/nosuch/k', token: TOKENS.other, tokenHeader: 'dapr-api-token' });
  await c.post('/v1.0/state/default', '{broken', { headers: { 'content-type': 'application/json' } });
  await c.get('/v1.0/nothing/here');
  // Requests the HTTP parser rejects, with the token in their raw bytes.
  for (const raw of [
    `GET /v1.0/metadata HTTP/1.1\r\nauthorization: Bearer ${TOKENS.demo}\r\nbad header line\r\n\r\n`,
    `POST /v1.0/state/default HTTP/1.1\r\nhost: x\r\ndapr-api-token: ${TOKENS.other}\r\ncontent-length: nope\r\n\r\n`,
  ]) {
    await new Promise<void>((resolve) => {
      const s = net.connect(h.socket('demo', 'http'));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      s.on('data', () => undefined);
      s.end(raw);
    });
  }
  t.is((await c.get('/v1.0/metadata')).status, 200);
  // A logged request on each worker: their earlier lines are in the output by then.
  (await httpClientPerWorker(h, 'demo')).forEach((x) => x.close());
  const out = h.output();
  t.true(out.length > 0);
  for (const token of [TOKENS.demo, TOKENS.other]) {
    const leaks = out.split('\n').filter((l) => l.includes(token));
    t.deepEqual(leaks, [], `${token} leaked`);
  }
});
