import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { callError } from '../helpers/grpc-client.js';
import { subscribe } from '../helpers/grpc-subscription.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';

// Each test closes servers, so each gets its own runtime.
const runtimes: InProcess<'grpc'>[] = [];
const start = async (): Promise<InProcess<'grpc'>> => {
  const rt = await startInProcess({ transports: ['grpc'] });
  runtimes.push(rt);
  return rt;
};
test.after.always(async () => {
  await Promise.all(runtimes.map((rt) => rt.close()));
});

// No bound of their own here: ava's timeout ends a wait that never comes true.
const UNBOUNDED = { timeoutMs: Infinity, everyMs: 20 };

test('connections() counts real connections', async (t) => {
  const rt = await start();
  const server = rt.other.grpc.server;
  t.is(server.connections(), 0);
  const a = rt.grpcClients(rt.other.grpc.socket, rt.other.token);
  const b = rt.grpcClients(rt.other.grpc.socket, rt.other.token);
  await a.metadata.GetMetadata({});
  // grpc-js shares one connection between clients with the same target and options.
  await b.metadata.GetMetadata({});
  t.true(server.connections() >= 1);
  a.close();
  b.close();
  rt.other.grpc.clients.close();
  await waitFor('the connections to close', () => server.connections() === 0, UNBOUNDED);
  t.is(server.connections(), 0);
});

test('close() ends subscriptions with UNAVAILABLE + SUBSCRIPTION_CLOSED; unacked deliveries come back', async (t) => {
  const rt = await start();
  const sub = subscribe(rt.demo.grpc.clients, { pubsubName: 'pubsub', topic: 'handover', subscription: 'h' });
  await sub.ready;
  const { messageId } = await rt.demo.grpc.clients.pubsub.Publish({
    pubsubName: 'pubsub',
    topic: 'handover',
    data: Buffer.from('"x"'),
    dataContentType: 'application/json',
  });
  t.is((await sub.next()).messageId, messageId); // received, never acked

  const closing = rt.demo.grpc.server.close(2000);
  t.is(rt.demo.grpc.server.close(2000), closing); // idempotent
  const end = await sub.ended;
  t.is(end.code, grpc.status.UNAVAILABLE);
  t.is(end.hearthCode, 'HEARTH_ERR_SUBSCRIPTION_CLOSED');
  await closing;
  t.is(rt.demo.grpc.server.connections(), 0);

  // The next generation's server on the same socket path redelivers the message.
  await rt.startServer('demo', 'grpc');
  const again = subscribe(rt.grpcClients(rt.demo.grpc.socket, rt.demo.token), { pubsubName: 'pubsub', topic: 'handover', subscription: 'h' });
  await again.ready;
  const d = await again.next();
  t.is(d.messageId, messageId);
  t.true(d.attempt >= 2);
  again.ack(d.deliveryId);
  await again.end();
});

test('close() ends configuration streams the same way; the other app is unaffected', async (t) => {
  const rt = await start();
  const stream = rt.demo.grpc.clients.configuration.SubscribeConfiguration({ storeName: 'appconfig', keys: [] });
  const ended = new Promise<ReturnType<typeof callError>>((resolve) => stream.on('error', (err) => resolve(callError(err))));
  await new Promise((resolve) => stream.once('data', resolve));
  await rt.demo.grpc.server.close(2000);
  const e = await ended;
  t.is(e.code, grpc.status.UNAVAILABLE);
  t.is(e.hearthCode, 'HEARTH_ERR_SUBSCRIPTION_CLOSED');
  t.is((await rt.other.grpc.clients.metadata.GetMetadata({})).appId, 'other');
});

test('after close() new calls fail as UNAVAILABLE and the server can be replaced', async (t) => {
  const rt = await start();
  await rt.demo.grpc.clients.metadata.GetMetadata({});
  await rt.demo.grpc.server.close(500);
  const fresh = rt.grpcClients(rt.demo.grpc.socket, rt.demo.token);
  const e = callError(await t.throwsAsync(fresh.metadata.GetMetadata({}, undefined)));
  t.is(e.code, grpc.status.UNAVAILABLE);
  await rt.startServer('demo', 'grpc');
  // grpc-js backs off before reconnecting (the subchannel is shared by every client of the
  // socket), as a real app's client would: retry until it reconnects.
  const next = rt.grpcClients(rt.demo.grpc.socket, rt.demo.token);
  const answer = await waitFor('the restarted server to answer', async () => {
    try {
      return await next.metadata.GetMetadata({});
    } catch (err) {
      if (callError(err).code !== grpc.status.UNAVAILABLE) throw err;
      return undefined;
    }
  }, { timeoutMs: 10_000, retryErrors: false });
  t.is(answer.appId, 'demo');
});

test('destroy() closes everything at once', async (t) => {
  const rt = await start();
  const sub = subscribe(rt.demo.grpc.clients, { pubsubName: 'pubsub', topic: 'destroyed' });
  await sub.ready;
  rt.demo.grpc.server.destroy();
  const end = await sub.ended;
  t.not(end.code, grpc.status.OK);
  await waitFor('the connections to close', () => rt.demo.grpc.server.connections() === 0, UNBOUNDED);
  t.is(rt.demo.grpc.server.connections(), 0);
});

test('close() turns health to NOT_SERVING before connections go', async (t) => {
  const rt = await start();
  const watch = rt.demo.grpc.clients.health.Watch({ service: '' });
  const statuses: string[] = [];
  watch.on('data', (m: { status: string }) => statuses.push(m.status));
  const ended = new Promise<void>((resolve) => {
    watch.on('error', () => resolve());
    watch.on('end', () => resolve());
  });
  await waitFor('the first health status', () => statuses.length > 0, UNBOUNDED);
  t.deepEqual(statuses, ['SERVING']);
  await rt.demo.grpc.server.close(300);
  await ended;
  t.deepEqual(statuses, ['SERVING', 'NOT_SERVING']);
});

test('metrics count each call by app, api, transport and code', async (t) => {
  const rt = await start();
  await rt.other.grpc.clients.state.GetState({ storeName: 'statestore', key: 'k' });
  await t.throwsAsync(rt.other.grpc.clients.state.GetState({ storeName: 'private', key: 'k' }));
  const text = await rt.metrics.registry.getSingleMetricAsString('hearth_requests_total');
  t.regex(text, /hearth_requests_total\{app="other",api="state.get",transport="grpc",code="OK"\} 1/);
  t.regex(text, /hearth_requests_total\{app="other",api="state.get",transport="grpc",code="HEARTH_ERR_PERMISSION_DENIED"\} 1/);
  const inFlight = await rt.metrics.registry.getSingleMetricAsString('hearth_requests_in_flight');
  t.regex(inFlight, /hearth_requests_in_flight\{app="other",transport="grpc"\} 0/);
  t.regex(await rt.metrics.registry.getSingleMetricAsString('hearth_connections'), /app="other",transport="grpc"\} 1/);
});

test('outside a cluster, a second server on a socket in use fails to start; the first keeps serving', async (t) => {
  const rt = await start();
  const err = await t.throwsAsync(rt.startServer('demo', 'grpc'));
  t.is((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
  t.is((await rt.demo.grpc.clients.metadata.GetMetadata({})).appId, 'demo');
});
