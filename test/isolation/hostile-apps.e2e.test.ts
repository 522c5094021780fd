// Hostile apps against one real `hearth start` (two workers): each test runs one abuse an app
// could try on the shared agent, while app `quiet` keeps making calls over HTTP and wire in the
// background. Asserted each time: the abuse is contained (refused, bounded or harmless, with its
// code) and every call `quiet` made meanwhile succeeded, on the same worker processes.
import { chmod, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { encodeFrame, FrameType, METHODS, runtimeMethods } from '@hearth/protocol';
import { createClient, type HearthClient } from '@hearth/sdk';
import { HttpClient } from '../helpers/http-client.js';
import { hearthCli, pidsOf, writeConfig } from '../helpers/upgrade-helpers.js';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import { sleep, waitFor } from '../support/wait.js';

const MIB = 1024 * 1024;
const tok = (app: string): string => `${app}-token-0123456789abcdef0123456789`;

const COMPONENTS = [
  { name: 'default', type: 'state.sqlite' },
  { name: 'default', type: 'pubsub.sqlite', metadata: { gcIntervalMs: 500, pollIntervalMs: 20 } },
  { name: 'default', type: 'lock.sqlite' },
  { name: 'default', type: 'sequencer.sqlite' },
];

const APPS = [
  { id: 'quiet', token: tok('quiet') },
  { id: 'feeder', token: tok('feeder') },
  { id: 'auditor', token: tok('auditor') },
  {
    id: 'hostile',
    token: tok('hostile'),
    allow: { topics: ['x', 'victim.*', 'hostile.*'] },
    budgets: { subscriptions: 8, connectionsPerSocket: 40, idleTimeoutMs: 3_000, bufferedBytesPerStream: 2 * MIB, bufferedBytes: 4 * MIB },
  },
  // Its gRPC twin: its own byte budgets, so the wire readers' bytes do not pause its streams.
  { id: 'hostile2', token: tok('hostile2'), budgets: { bufferedBytesPerStream: 2 * MIB, bufferedBytes: 4 * MIB } },
  { id: 'chunky', token: tok('chunky'), quota: { bytesPerSecond: 20_000, burstSeconds: 1 } },
  { id: 'acker', token: tok('acker'), quota: { requestsPerSecond: 5, burstSeconds: 1 } },
  { id: 'metered', token: tok('metered'), quota: { requestsPerSecond: 50, burstSeconds: 1 } },
];

const CONFIG = { workers: 2, pubsub: { pullSubscriptionIdleSeconds: 10 }, apps: APPS, components: COMPONENTS };

let h: HearthProcess;
let quiet: QuietCaller;
let workers: number[] = [];
const clients: HearthClient[] = [];

/** App `quiet`'s calls, made all along: saves and gets over HTTP keep-alive and over wire. */
class QuietCaller {
  ok = 0;
  readonly failures: string[] = [];
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(hp: HearthProcess) {
    const httpClient = new HttpClient(hp.socket('quiet', 'http'), { token: tok('quiet') });
    const wire = createClient({ appId: 'quiet', token: tok('quiet'), runDir: hp.runDir, env: {} });
    clients.push(wire);
    this.#done = (async () => {
      for (let i = 0; !this.#stopped; i++) {
        try {
          const save = await httpClient.post('/v1.0/state/default', [{ key: `k${i % 10}`, value: { i } }]);
          if (save.status !== 204) throw new Error(`HTTP save ${save.status} ${save.text()}`);
          const got = await httpClient.get(`/v1.0/state/default/k${i % 10}`);
          if (got.status !== 200) throw new Error(`HTTP get ${got.status} ${got.text()}`);
          await wire.state.get('default', `k${i % 10}`, { timeoutMs: 10_000 });
          this.ok += 1;
        } catch (err) {
          this.failures.push((err as Error).message);
        }
        await sleep(5);
      }
      httpClient.close();
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

test.before(async () => {
  h = await startHearth({ config: CONFIG });
  workers = pidsOf(await h.status());
  quiet = new QuietCaller(h);
});

test.after.always(async () => {
  await quiet?.stop();
  await Promise.allSettled(clients.map((c) => c.close()));
  await h?.stop();
});

/** Runs `abuse`, then checks the quiet app made calls meanwhile, all of them fine, on the same workers. */
async function contained(t: ExecutionContext, abuse: () => Promise<void>): Promise<void> {
  const okBefore = quiet.ok;
  const failedBefore = quiet.failures.length;
  await abuse();
  await waitFor('the quiet app to make a few more calls', async () => (quiet.ok >= okBefore + 3 ? true : undefined), { timeoutMs: 30_000 });
  t.deepEqual(quiet.failures.slice(failedBefore), [], 'every call of the quiet app succeeded during the abuse');
  t.deepEqual(pidsOf(await h.status()).sort(), [...workers].sort(), 'no worker died');
}

function http(app: string): HttpClient {
  return new HttpClient(h.socket(app, 'http'), { token: tok(app) });
}

/** POSTs `body` in 1 KB chunks with Transfer-Encoding: chunked (no Content-Length); resolves with the status. */
function postChunked(app: string, urlPath: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { socketPath: h.socket(app, 'http'), path: urlPath, method: 'POST', agent: false, headers: { host: 'hearth', authorization: `Bearer ${tok(app)}`, 'content-type': 'text/plain' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    for (let at = 0; at < body.length; at += 1024) req.write(body.subarray(at, at + 1024));
    req.end();
  });
}

function deliveriesOf(groupPrefix: string): { total: number; leased: number } {
  const db = new Database(path.join(h.stateDir, 'hearth.db'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare('SELECT count(*) AS total, count(lease_owner) AS leased FROM pubsub_deliveries WHERE substr(group_name, 1, ?) = ?')
      .get(groupPrefix.length, groupPrefix) as { total: number; leased: number };
  } finally {
    db.close();
  }
}

function groupsOf(app: string): number {
  const db = new Database(path.join(h.stateDir, 'hearth.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM pubsub_groups WHERE app = ?').get(app) as { n: number }).n;
  } finally {
    db.close();
  }
}

test.serial('(1) subscription spam: past budgets.subscriptions a new pull subscription is RESOURCE_EXHAUSTED, and unused ones expire', async (t) => {
  const c = http('hostile');
  t.teardown(() => c.close());
  await contained(t, async () => {
    const codes: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await c.post(`/v1.0-hearth/subscriptions/default/hostile.t/pull`, { subscription: `s${i}`, waitMs: 0 });
      codes.push(r.status === 200 ? 'OK' : (r.json<{ errorCode: string }>().errorCode));
    }
    t.is(codes.filter((x) => x === 'OK').length, 8, codes.join(' '));
    t.true(codes.slice(8).every((x) => x === 'HEARTH_ERR_RESOURCE_EXHAUSTED'), codes.join(' '));
    t.is(groupsOf('hostile'), 8);
    const metrics = (await h.admin('/metrics')).body;
    const refusals = /^hearth_budget_refusals_total\{[^}]*app="hostile"[^}]*budget="subscriptions"[^}]*\} (\d+)/m.exec(metrics)
      ?? /^hearth_budget_refusals_total\{[^}]*budget="subscriptions"[^}]*app="hostile"[^}]*\} (\d+)/m.exec(metrics);
    t.is(Number(refusals?.[1] ?? 0), 32, 'each refusal counted in hearth_budget_refusals_total');
    // Publishes to the topic fan out to those 8 alone; nobody pulls them again: they expire.
    const feeder = http('feeder');
    t.teardown(() => feeder.close());
    for (let i = 0; i < 5; i++) t.is((await feeder.post('/v1.0/publish/default/hostile.t', { i })).status, 204);
    await waitFor('the unused pull subscriptions to expire', async () => (groupsOf('hostile') === 0 ? true : undefined), { timeoutMs: 60_000 });
    // Room again.
    t.is((await c.post(`/v1.0-hearth/subscriptions/default/hostile.t/pull`, { subscription: 'again', waitMs: 0 })).status, 200);
  });
});

test.serial('(2) subscribe and never read (wire and gRPC): the worker buffers at most the app’s byte budget, not every large delivery', async (t) => {
  const codec = runtimeMethods().get(METHODS.subscribe);
  if (codec === undefined) throw new Error('no Subscribe method');
  const sockets: net.Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  const rssOf = async (): Promise<number> => Math.max(...(await h.status()).workers.map((w) => w.rssBytes ?? 0));
  await contained(t, async () => {
    const before = await rssOf();
    for (let i = 0; i < 3; i++) {
      const s = net.createConnection(h.socket('hostile', 'wire'));
      await new Promise<void>((resolve) => s.once('connect', resolve));
      const body = codec.serializeRequest({ initial: { pubsubName: 'default', topic: 'hostile.big', subscription: `reader${i}`, maxInFlight: 200, ackDeadlineMs: 600_000 } });
      s.write(encodeFrame({ type: FrameType.Request, streamId: 1, header: { method: METHODS.subscribe, token: tok('hostile') }, body }));
      // Reads the `ready` and whatever fits, then stops reading for good.
      setTimeout(() => s.pause(), 200);
      sockets.push(s);
    }
    // gRPC: a raw HTTP/2 client that opens Subscribe and never reads a byte of the answer (its
    // flow-control window shuts at once). The server's stream would take 16 messages before it
    // reports backpressure: what it holds for the client counts against the budgets too.
    const session = http2.connect('http://hearth', { createConnection: () => net.createConnection(h.socket('hostile2', 'grpc')) });
    session.on('error', () => undefined);
    t.teardown(() => session.destroy());
    for (let i = 0; i < 2; i++) {
      const message = codec.serializeRequest({ initial: { pubsubName: 'default', topic: 'hostile.big', subscription: `greader${i}`, maxInFlight: 200, ackDeadlineMs: 600_000 } });
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(message.length, 1);
      const stream = session.request({
        ':method': 'POST', ':path': `/${METHODS.subscribe}`, 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${tok('hostile2')}`,
      });
      stream.on('error', () => undefined);
      stream.pause();
      stream.write(Buffer.concat([prefix, message]));
    }
    await sleep(500);
    const feeder = http('feeder');
    t.teardown(() => feeder.close());
    const payload = Buffer.alloc(MIB, 'x');
    for (let i = 0; i < 120; i++) {
      const r = await feeder.post('/v1.0/publish/default/hostile.big?metadata.rawPayload=true', payload, { headers: { 'content-type': 'application/octet-stream' } });
      t.is(r.status, 204);
    }
    await sleep(2_000);
    const after = await rssOf();
    t.log(`worker RSS ${Math.round(before / MIB)} MiB → ${Math.round(after / MIB)} MiB with 5 unread streams and 600 MiB of deliveries due`);
    // Budgets: 2 MiB per stream, 4 MiB for the app (+ one message each, + the socket buffers).
    t.true(after - before < 150 * MIB, `RSS grew ${Math.round((after - before) / MIB)} MiB`);
    // The deliveries are due all the same: the agent held them back in the store, unclaimed.
    const due = deliveriesOf('hostile||reader');
    const grpcDue = deliveriesOf('hostile2||greader');
    const held = (await h.status()).apps.find((a) => a.id === 'hostile2')?.held;
    t.log(`hostile2 holds ${JSON.stringify(held)} in the agent`);
    t.log(`deliveries for the wire readers: ${due.total} due, ${due.leased} claimed; for the gRPC ones: ${grpcDue.total} due, ${grpcDue.leased} claimed`);
    t.is(due.total, 360);
    t.true(due.leased <= 3 * 4, `${due.leased} claimed`);
    t.is(grpcDue.total, 240);
    // 4 MiB for the app (per worker), 2 MiB per stream: a few 1 MiB messages each, not 17 — the
    // client reads nothing, so whatever was claimed is in the agent's hands.
    t.true(grpcDue.leased <= 2 * 6, `${grpcDue.leased} claimed for the gRPC streams`);
  });
});

test.serial('(5) connection hoarding: past connectionsPerSocket connections are refused with a coded Goaway; idle ones are closed', async (t) => {
  const sockets: net.Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  await contained(t, async () => {
    const refused = new Set<net.Socket>();
    const closed = new Set<net.Socket>();
    for (let i = 0; i < 120; i++) {
      // Half-open allowed: a refused client that never closes its side must still lose the connection.
      const s = net.createConnection({ path: h.socket('hostile', 'wire'), allowHalfOpen: true });
      s.on('data', (d: Buffer) => {
        if (d.includes(Buffer.from('HEARTH_ERR_RESOURCE_EXHAUSTED'))) refused.add(s);
      });
      s.on('close', () => closed.add(s));
      s.on('error', () => undefined);
      sockets.push(s);
    }
    // 40 per worker at most: at least 40 of the 120 are refused, each with a Goaway, then closed by the agent.
    await waitFor('the connections past the budget to be refused', async () => (refused.size >= 120 - 2 * 40 ? true : undefined), { timeoutMs: 20_000 });
    // The client still has its side open; a write shows whether the agent's side is gone (EPIPE).
    await waitFor('every refused connection to be closed by the agent', async () => {
      for (const s of refused) if (!closed.has(s) && !s.destroyed) s.write('x');
      return [...refused].every((s) => closed.has(s)) ? true : undefined;
    }, { timeoutMs: 20_000, everyMs: 500 });
    // Per worker: 40 each on two workers at most.
    const held = (await h.status()).apps.find((a) => a.id === 'hostile')?.connections.wire ?? 0;
    t.true(held <= 2 * 40, `hostile holds ${held} wire connections`);
    // They never send anything: closed after budgets.idleTimeoutMs (3 s).
    await waitFor('the idle connections to be closed', async () => (((await h.status()).apps.find((a) => a.id === 'hostile')?.connections.wire ?? 0) === 0 ? true : undefined), { timeoutMs: 30_000 });
  });
});

test.serial('(6) a crafted payload (10 KB of nested brackets) reaches the puller as base64; its neighbours arrive as JSON; nothing is dead-lettered', async (t) => {
  const auditor = http('auditor');
  const hostile = http('hostile');
  t.teardown(() => {
    auditor.close();
    hostile.close();
  });
  await contained(t, async () => {
    const pull = (): Promise<{ deliveries: { data?: unknown; dataBase64?: string; deliveryId: string; metadata: Record<string, string> }[] }> =>
      auditor.post('/v1.0-hearth/subscriptions/default/victim.feed/pull', { max: 10, waitMs: 2_000 }).then((r) => r.json());
    t.deepEqual((await pull()).deliveries, [], 'the subscription exists before the messages');
    t.is((await hostile.post('/v1.0/publish/default/victim.feed', { good: 1 })).status, 204);
    const nested = '['.repeat(5_000) + ']'.repeat(5_000);
    t.is((await hostile.post('/v1.0/publish/default/victim.feed?metadata.rawPayload=true', nested, { headers: { 'content-type': 'application/json' } })).status, 204);
    t.is((await hostile.post('/v1.0/publish/default/victim.feed', { good: 2 })).status, 204);
    const got: { data?: unknown; dataBase64?: string; deliveryId: string }[] = [];
    await waitFor('all three messages', async () => {
      got.push(...(await pull()).deliveries);
      return got.length >= 3 ? true : undefined;
    });
    t.is(got.filter((d) => d.dataBase64 !== undefined && Buffer.from(d.dataBase64, 'base64').toString() === nested).length, 1, 'the nested one as base64');
    t.is(got.filter((d) => d.data !== undefined).length, 2, 'the others as JSON');
    const ack = await auditor.post('/v1.0-hearth/subscriptions/default/victim.feed/ack', { deliveryIds: got.map((d) => d.deliveryId) });
    t.is(ack.status, 204);
  });
});

test.serial('(7) a publisher cannot forge another app’s CloudEvent source or set hearth* metadata; every message names its verified publisher', async (t) => {
  const hostile = http('hostile');
  const auditor = http('auditor');
  t.teardown(() => {
    hostile.close();
    auditor.close();
  });
  await contained(t, async () => {
    const forged = JSON.stringify({ specversion: '1.0', id: '1', source: 'quiet', type: 'com.example.payment', data: { amount: 1 } });
    const r = await hostile.post('/v1.0/publish/default/victim.events?metadata.rawPayload=true', forged, { headers: { 'content-type': 'application/cloudevents+json' } });
    t.is(r.status, 403);
    t.is(r.json<{ errorCode: string }>().errorCode, 'HEARTH_ERR_PERMISSION_DENIED');
    const reserved = await hostile.post('/v1.0/publish/default/victim.events?metadata.hearth.deadletter.original-topic=payments', { x: 1 });
    t.is(reserved.json<{ errorCode: string }>().errorCode, 'HEARTH_ERR_INVALID_ARGUMENT');
    // Its own source is fine, and the delivery says who published it.
    t.is((await auditor.post('/v1.0-hearth/subscriptions/default/victim.events/pull', { waitMs: 0 })).status, 200);
    const own = JSON.stringify({ specversion: '1.0', id: '2', source: 'hostile', type: 'com.example.note', data: {} });
    t.is((await hostile.post('/v1.0/publish/default/victim.events?metadata.rawPayload=true', own, { headers: { 'content-type': 'application/cloudevents+json' } })).status, 204);
    const got = await auditor.post('/v1.0-hearth/subscriptions/default/victim.events/pull', { waitMs: 5_000 });
    const d = got.json<{ deliveries: { metadata: Record<string, string> }[] }>().deliveries;
    t.is(d.length, 1);
    t.is(d[0]?.metadata['hearth.publisher'], 'hostile');
  });
});

test.serial('(9) quotas count what is read: chunked bodies are charged, and acks past the rate wait (none is lost, none comes back)', async (t) => {
  const chunky = http('chunky');
  t.teardown(() => chunky.close());
  await contained(t, async () => {
    // 20 KB chunked bodies (no content-length) with bytesPerSecond 20,000: the second one in the same second is refused.
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      codes.push(await postChunked('chunky', '/v1.0/publish/default/chunky.t', Buffer.alloc(20_000, 'a')));
    }
    t.true(codes.includes(429), `statuses ${codes.join(', ')}`);

    // App acker (5 requests/s) acks 20 deliveries at once on one stream: the acks past its rate
    // wait their turn (the stream is not read meanwhile) instead of being dropped.
    const acker = createClient({ appId: 'acker', token: tok('acker'), runDir: h.runDir, env: {} });
    clients.push(acker);
    const sub = acker.pubsub.subscribe('default', 'acker.t', { ackDeadlineMs: 60_000, maxInFlight: 50 });
    await sub.ready;
    const feeder = http('feeder');
    t.teardown(() => feeder.close());
    for (let i = 0; i < 20; i++) t.is((await feeder.post('/v1.0/publish/default/acker.t', { i })).status, 204);
    const got: { ack(): void; messageId: string }[] = [];
    for await (const m of sub) {
      got.push(m);
      if (got.length === 20) break;
    }
    const pending = (): number => deliveriesOf('acker||acker.t').total;
    t.is(pending(), 20);
    const acked = Date.now();
    for (const m of got) m.ack();
    await sleep(200);
    const early = pending();
    // A rate of 5/s with a burst of 5 (and a lease chunk on credit): what the quota can have
    // admitted by now, however long this process was held up. Dropped or unmetered acks would all be in.
    const admissible = 5 + 1 + Math.ceil((5 * (Date.now() - acked)) / 1000) + 1;
    t.true(20 - early <= admissible, `${20 - early} of 20 acks taken, the quota allows ${admissible} by now`);
    await waitFor('every ack to be taken', () => (pending() === 0 ? true : undefined), { timeoutMs: 30_000 });
    sub.close();
    t.is(new Set(got.map((m) => m.messageId)).size, 20, 'each message was delivered once');
  });
});

test.serial('(9) with two workers an app limited to R requests/s gets R ± 10 %, host-wide', async (t) => {
  const R = 50;
  const seconds = 10;
  const conns = Array.from({ length: 16 }, () => new HttpClient(h.socket('metered', 'http'), { token: tok('metered'), keepAlive: false }));
  t.teardown(() => conns.forEach((c) => c.close()));
  await contained(t, async () => {
    await sleep(1_200); // a full bucket to start from
    const end = Date.now() + seconds * 1000;
    let admitted = 0;
    let refused = 0;
    await Promise.all(
      conns.map(async (c) => {
        while (Date.now() < end) {
          const r = await c.get('/v1.0/state/default/k');
          if (r.status === 429) refused += 1;
          else admitted += 1;
        }
      }),
    );
    const expected = R * seconds + R; // the rate over the window plus one burst
    t.log(`admitted ${admitted} of ${admitted + refused} in ${seconds} s; the quota allows ${expected} (±10 %)`);
    t.true(admitted <= expected * 1.1, `admitted ${admitted} > ${expected} + 10 %`);
    // Enough was offered to use the whole quota: the host did not admit much less either.
    if (admitted + refused >= 2 * expected) t.true(admitted >= expected * 0.9, `admitted ${admitted} < ${expected} − 10 %`);
  });
});

test.serial('(10) the default dead-letter topic is used only when the app may use it: otherwise exhausted messages are dropped', async (t) => {
  const hostile = createClient({ appId: 'hostile', token: tok('hostile'), runDir: h.runDir, env: {} });
  clients.push(hostile);
  const auditor = http('auditor');
  const feeder = http('feeder');
  t.teardown(() => {
    auditor.close();
    feeder.close();
  });
  await contained(t, async () => {
    // The auditor watches x.dead-letter; hostile may use `x` only.
    t.is((await auditor.post('/v1.0-hearth/subscriptions/default/x.dead-letter/pull', { waitMs: 0 })).status, 200);
    const sub = hostile.pubsub.subscribe('default', 'x', { maxDeliveryAttempts: 1 });
    await sub.ready;
    t.is((await feeder.post('/v1.0/publish/default/x', { poison: true })).status, 204);
    for await (const m of sub) {
      m.nack();
      break;
    }
    sub.close();
    // A control: the auditor's own subscription with maxDeliveryAttempts 1 does dead-letter.
    t.is((await auditor.post('/v1.0-hearth/subscriptions/default/audit.in/pull', { waitMs: 0, maxDeliveryAttempts: 1 })).status, 200);
    t.is((await feeder.post('/v1.0/publish/default/audit.in', { control: true })).status, 204);
    const first = await auditor.post('/v1.0-hearth/subscriptions/default/audit.in/pull', { waitMs: 5_000, maxDeliveryAttempts: 1 });
    const id = first.json<{ deliveries: { deliveryId: string }[] }>().deliveries[0]?.deliveryId ?? '';
    t.is((await auditor.post('/v1.0-hearth/subscriptions/default/audit.in/nack', { deliveryIds: [id] })).status, 204);
    await auditor.post('/v1.0-hearth/subscriptions/default/audit.in/pull', { waitMs: 1_000, maxDeliveryAttempts: 1 });
    t.is((await auditor.post('/v1.0-hearth/subscriptions/default/audit.in.dead-letter/pull', { waitMs: 0 })).status, 200);
    const dlq = await auditor.post('/v1.0-hearth/subscriptions/default/x.dead-letter/pull', { waitMs: 3_000 });
    t.deepEqual(dlq.json<{ deliveries: unknown[] }>().deliveries, [], 'nothing reached x.dead-letter on hostile’s behalf');
  });
});

test.serial('(11) a reload that would hide data is refused with a coded reason; a changed socket group is applied to the app’s directory', async (t) => {
  const renamed = { ...CONFIG, components: COMPONENTS.map((c) => (c.type === 'state.sqlite' ? { ...c, name: 'renamed' } : c)) };
  await writeConfig(h, renamed);
  const refused = await hearthCli(h, ['reload']);
  t.not(refused.code, 0);
  t.regex(refused.stdout + refused.stderr, /HEARTH_ERR_CONFIG_INVALID/);
  t.regex(refused.stdout + refused.stderr, /component "default" \(state\) is renamed "renamed"/);
  t.is((await h.status()).generation, 1, 'nothing changed');
  t.deepEqual(quiet.failures, []);

  // As root the agent may hand the directory to any group: quiet's goes to gid 4242 on reload.
  if (process.getuid?.() !== 0) {
    t.log('not root: the group change is not applied by this user (checked elsewhere)');
    await writeConfig(h, CONFIG);
    return;
  }
  const regrouped = { ...CONFIG, apps: APPS.map((a) => (a.id === 'quiet' ? { ...a, socket: { group: 4242 } } : a)) };
  await writeConfig(h, regrouped);
  const applied = await hearthCli(h, ['reload']);
  t.is(applied.code, 0, applied.stdout + applied.stderr);
  const dir = path.dirname(h.socket('quiet', 'http'));
  t.is((await stat(dir)).gid, 4242);
  t.is((await stat(h.socket('quiet', 'http'))).gid, 4242);
  await chmod(dir, 0o750);
  t.deepEqual(quiet.failures, [], 'the quiet app kept working through the reload');
  workers = pidsOf(await h.status());
});

test.serial('every worker is alive and the quiet app never failed', async (t) => {
  await quiet.stop();
  t.true(quiet.ok > 50, `quiet made ${quiet.ok} round trips`);
  t.deepEqual(quiet.failures, []);
  t.is(pidsOf(await h.status()).length, 2);
});
