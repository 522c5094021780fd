// Push subscriptions through the HTTP app channel, against a real `hearth start` (2 workers): a
// plain node:http server (no SDK) is app `shop`, with subscriptions declared in the configuration;
// app `demo` publishes through its http.sock. Asserted: messages arrive as CloudEvent POSTs on the
// route; SUCCESS acks, RETRY redelivers, DROP goes to the dead-letter topic; an app whose health
// check fails gets no pushes until it passes; every message of a steady stream arrives across a
// `hearth reload` (at least once); and DaprServer — the Dapr SDK's own app server — gets its
// subscriptions from `GET /dapr/subscribe` even though it starts after the agent.
import test from 'ava';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CommunicationProtocolEnum, DaprPubSubStatusEnum, DaprServer, LogLevel } from '@dapr/dapr';
import { HttpClient } from '../helpers/http-client.js';
import { freePort } from '../support/free-port.js';
import { runHearthCli, startHearth, type HearthProcess } from '../support/hearth-process.js';
import { waitFor } from '../support/wait.js';

interface Pushed {
  route: string;
  contentType: string | undefined;
  id: string;
  data: unknown;
}

const cleanups: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const pushed: Pushed[] = [];
/** Message data → the statuses to answer in turn (then SUCCESS). */
const script = new Map<string, string[]>();
let healthy = true;
let hearth: HearthProcess | undefined;
let demo: HttpClient | undefined;
let daprReceived: unknown[] = [];
let daprServerPort = 0;

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hpu-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'shop.sock');
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/healthz') return void res.writeHead(healthy ? 200 : 503).end();
      if (req.url === '/dapr/subscribe') return void res.writeHead(404).end();
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; data: unknown };
      pushed.push({ route: req.url ?? '', contentType: req.headers['content-type'], id: event.id, data: event.data });
      const key = JSON.stringify(event.data);
      const status = script.get(key)?.shift() ?? 'SUCCESS';
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  daprServerPort = await freePort();
  const daprAppPort = await freePort();
  hearth = await startHearth({
    config: {
      apps: [
        { id: 'demo', token: 'demo-token' },
        {
          id: 'shop',
          token: 'shop-token-0123456789',
          channel: { address: `unix:${socketPath}`, healthPath: '/healthz', healthIntervalMs: 100 },
          subscriptions: [
            { pubsubName: 'default', topic: 'orders', route: '/on-order', deadLetterTopic: 'orders-dead' },
            { pubsubName: 'default', topic: 'orders-dead', route: '/on-dead' },
          ],
        },
        { id: 'daprapp', token: 'daprapp-token-0123456789', tcp: { httpPort: daprAppPort }, channel: { address: `127.0.0.1:${daprServerPort}`, healthIntervalMs: 100 } },
      ],
    },
  });
  cleanups.push(() => hearth?.stop() ?? Promise.resolve());
  demo = new HttpClient(hearth.socket('demo', 'http'), { token: 'demo-token' });
  // The Dapr app starts after the agent, as apps usually do: its subscriptions are asked for until it answers.
  const dapr = new DaprServer({
    serverHost: '127.0.0.1',
    serverPort: String(daprServerPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    clientOptions: { daprHost: '127.0.0.1', daprPort: String(daprAppPort), communicationProtocol: CommunicationProtocolEnum.HTTP, daprApiToken: 'daprapp-token-0123456789' },
    logger: { level: LogLevel.Error },
  });
  await dapr.pubsub.subscribe('default', 'payments', async (data: unknown) => {
    daprReceived.push(data);
    return DaprPubSubStatusEnum.SUCCESS;
  });
  await dapr.start();
  cleanups.push(() => dapr.stop());
});

async function publish(topic: string, data: unknown): Promise<void> {
  if (demo === undefined) throw new Error('not started');
  const res = await demo.request({ method: 'POST', path: `/v1.0/publish/default/${topic}`, body: data });
  if (res.status !== 204) throw new Error(`publish ${res.status}: ${res.text()}`);
}

const on = (data: unknown, route = '/on-order'): Pushed[] => pushed.filter((p) => p.route === route && JSON.stringify(p.data) === JSON.stringify(data));

test.serial('a message arrives as a CloudEvent POST on its route; SUCCESS acks it (no redelivery)', async (t) => {
  const data = { order: 'success-1' };
  await publish('orders', data);
  await waitFor('the push', () => (on(data).length > 0 ? true : undefined));
  t.is(on(data)[0]?.contentType, 'application/cloudevents+json');
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  t.is(on(data).length, 1);
});

test.serial('RETRY redelivers the same message; DROP sends it to the dead-letter topic', async (t) => {
  const retried = { order: 'retry-1' };
  script.set(JSON.stringify(retried), ['RETRY']);
  await publish('orders', retried);
  await waitFor('the redelivery', () => (on(retried).length >= 2 ? true : undefined));
  const [first, second] = on(retried);
  t.is(first?.id, second?.id);
  const dropped = { order: 'drop-1' };
  script.set(JSON.stringify(dropped), ['DROP']);
  await publish('orders', dropped);
  // The dead-letter topic gets the dropped message itself (its CloudEvent, its data), once.
  const dead = await waitFor('the dead letter', () => on(dropped, '/on-dead')[0]);
  t.is(on(dropped).length, 1);
  t.is(dead.id, on(dropped)[0]?.id ?? 'none');
  t.is(on(retried, '/on-dead').length, 0);
});

test.serial('while the app\'s health check fails it gets no pushes; they arrive once it passes', async (t) => {
  healthy = false;
  await new Promise((resolve) => setTimeout(resolve, 500));
  const data = { order: 'while-unhealthy' };
  const before = pushed.length;
  await publish('orders', data);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  t.is(on(data).length, 0);
  t.is(pushed.length, before);
  healthy = true;
  await waitFor('the push after health returns', () => (on(data).length > 0 ? true : undefined));
  t.pass();
});

test.serial('every message of a steady stream arrives across a hearth reload (at least once)', async (t) => {
  const h = hearth;
  if (h === undefined) throw new Error('not started');
  let stop = false;
  const sent: string[] = [];
  const publisher = (async () => {
    for (let i = 0; !stop; i++) {
      const data = { order: `steady-${i}` };
      await publish('orders', data);
      sent.push(JSON.stringify(data));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const r = await runHearthCli(['reload', '--config', h.configPath], { cwd: h.dir, timeoutMs: 90_000 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  stop = true;
  await publisher;
  t.is(r.code, 0, r.stdout + r.stderr);
  await waitFor('every message', () => (sent.every((s) => on(JSON.parse(s) as unknown).length > 0) ? true : undefined), { timeoutMs: 30_000 });
  t.true(sent.length > 20, `only ${sent.length} sent`);
});

test.serial('DaprServer receives its subscription, listed at GET /dapr/subscribe', async (t) => {
  daprReceived = [];
  await waitFor('the Dapr app\'s subscription', async () => {
    await publish('payments', { amount: 42 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    return daprReceived.length > 0 ? true : undefined;
  });
  t.deepEqual(daprReceived[0], { amount: 42 });
});
