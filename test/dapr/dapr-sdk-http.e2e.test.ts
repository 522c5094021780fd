// The official Dapr JavaScript SDK (@dapr/dapr from the npm registry, not ours) against a real
// `hearth start`, over HTTP: DaprClient on each app's loopback TCP port (apps[].tcp), with its
// dapr-api-token, for state (etag, bulk, transaction), publish and bulk publish, lock, metadata
// (get and set) and health; and DaprServer — the SDK's own app server — as app `svc`, receiving an
// invocation through its HTTP app channel (apps[].channel). Values and error codes are asserted.
// The SDK's configuration API is gRPC-only, and the Dapr gRPC API is not served yet (docs/dapr.md).
import test from 'ava';
import { CommunicationProtocolEnum, DaprClient, DaprServer, HttpMethod, LogLevel } from '@dapr/dapr';
import { freePort } from '../support/free-port.js';
import { runHearthCli, startHearth, type HearthProcess } from '../support/hearth-process.js';

const DEMO_TOKEN = 'demo-token-0123456789';
const SVC_TOKEN = 'svc-token-0123456789';
const cleanups: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

let hearth: HearthProcess | undefined;
let demoPort = 0;
let svcPort = 0;
let svcServerPort = 0;

function client(port = demoPort, token = DEMO_TOKEN): DaprClient {
  return new DaprClient({
    daprHost: '127.0.0.1',
    daprPort: String(port),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    daprApiToken: token,
    logger: { level: LogLevel.Error },
  });
}

/** The SDK reports HTTP failures as an Error whose message is JSON: { status, error_msg: <our body> }. */
function failure(err: unknown): { status: number; errorCode: string } {
  const outer = JSON.parse((err as Error).message) as { status: number; error_msg: string };
  return { status: outer.status, errorCode: (JSON.parse(outer.error_msg) as { errorCode: string }).errorCode };
}

test.before(async () => {
  [demoPort, svcPort, svcServerPort] = [await freePort(), await freePort(), await freePort()];
  hearth = await startHearth({
    config: {
      apps: [
        { id: 'demo', token: DEMO_TOKEN, allow: { apps: ['svc'] }, tcp: { httpPort: demoPort } },
        { id: 'svc', token: SVC_TOKEN, tcp: { httpPort: svcPort }, channel: { address: `127.0.0.1:${svcServerPort}` } },
      ],
      components: [
        { name: 'statestore', type: 'state.sqlite' },
        { name: 'pubsub', type: 'pubsub.sqlite' },
        { name: 'lockstore', type: 'lock.sqlite' },
      ],
    },
  });
  cleanups.push(() => hearth?.stop() ?? Promise.resolve());
  const server = new DaprServer({
    serverHost: '127.0.0.1',
    serverPort: String(svcServerPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    clientOptions: { daprHost: '127.0.0.1', daprPort: String(svcPort), communicationProtocol: CommunicationProtocolEnum.HTTP, daprApiToken: SVC_TOKEN },
    logger: { level: LogLevel.Error },
  });
  await server.invoker.listen(
    'orders',
    async (data) => {
      const caller: unknown = data.headers?.['dapr-caller-app-id'];
      return { received: JSON.parse(data.body ?? 'null') as unknown, caller };
    },
    { method: HttpMethod.POST },
  );
  await server.start();
  cleanups.push(() => server.stop());
});

test('state: save, get, bulk get, etag, transaction, delete', async (t) => {
  const c = client();
  await c.state.save('statestore', [
    { key: 'a', value: { n: 1 } },
    { key: 'b', value: 'text' },
  ]);
  t.deepEqual(await c.state.get('statestore', 'a'), { n: 1 });
  const bulk = (await c.state.getBulk('statestore', ['a', 'b', 'missing'])) as { key: string; data?: unknown; etag?: string }[];
  const byKey = Object.fromEntries(bulk.map((r) => [r.key, r.data]));
  t.deepEqual(byKey, { a: { n: 1 }, b: 'text', missing: undefined });
  const etag = bulk.find((r) => r.key === 'a')?.etag;
  t.truthy(etag);
  // A stale etag: the SDK returns (not throws) our coded error.
  const stale = await c.state.save('statestore', [{ key: 'a', value: { n: 2 }, etag: `${etag}9` }]);
  t.deepEqual(failure(stale.error), { status: 409, errorCode: 'HEARTH_ERR_ETAG_MISMATCH' });
  await c.state.transaction('statestore', [
    { operation: 'upsert', request: { key: 'c', value: 'from a transaction' } },
    { operation: 'delete', request: { key: 'b' } },
  ]);
  t.is(await c.state.get('statestore', 'c'), 'from a transaction');
  t.falsy(await c.state.get('statestore', 'b'));
  await c.state.delete('statestore', 'a');
  t.falsy(await c.state.get('statestore', 'a'));
});

test('publish and bulk publish; a bulk publish to an unknown pubsub reports every entry failed', async (t) => {
  const c = client();
  t.deepEqual(await c.pubsub.publish('pubsub', 'orders', { id: 1 }), {});
  t.deepEqual(await c.pubsub.publishBulk('pubsub', 'orders', [{ id: 2 }, 'three', { id: 4 }]), { failedMessages: [] });
  const bad = await c.pubsub.publishBulk('no-such-pubsub', 'orders', [{ id: 5 }]);
  t.is(bad.failedMessages.length, 1);
});

test('lock and unlock', async (t) => {
  const c = client();
  t.deepEqual(await c.lock.lock('lockstore', 'resource-1', 'owner-1', 30), { success: true });
  t.deepEqual(await c.lock.lock('lockstore', 'resource-1', 'owner-2', 30), { success: false });
  t.is((await c.lock.unlock('lockstore', 'resource-1', 'owner-1')).status, 0);
});

test('metadata: the app sees its id and components, and an attribute it sets', async (t) => {
  const c = client();
  t.true(await c.metadata.set('team', 'payments'));
  const m = await c.metadata.get();
  t.is(m.id, 'demo');
  t.true(m.components.some((x: { name: string }) => x.name === 'statestore'));
  t.is((m.extended as Record<string, string>).team, 'payments');
  t.true(await c.health.isHealthy());
});

test('invoke: DaprServer, the SDK\'s own app server, is reached through its app channel', async (t) => {
  const answer = await client().invoker.invoke('svc', 'orders', HttpMethod.POST, { id: 7 });
  t.deepEqual(answer, { received: { id: 7 }, caller: 'demo' });
});

test('a wrong or missing token on an app\'s TCP port is refused with HEARTH_ERR_UNAUTHENTICATED', async (t) => {
  const variants: Record<string, string>[] = [{ 'dapr-api-token': 'not-the-token-0123' }, { authorization: `Bearer ${SVC_TOKEN}` }, {}];
  for (const headers of variants) {
    const res = await fetch(`http://127.0.0.1:${demoPort}/v1.0/state/statestore/a`, { headers });
    t.is(res.status, 401);
    t.is(((await res.json()) as { errorCode: string }).errorCode, 'HEARTH_ERR_UNAUTHENTICATED');
  }
});

test.serial('Shutdown is answered as Dapr does and stops nothing: the agent serves every app on the host', async (t) => {
  await client().sidecar.shutdown();
  t.true(await client().health.isHealthy());
  t.is((await client().metadata.get()).id, 'demo');
});

test.serial('across a hearth reload, the TCP port and the app channel keep serving: no request of a steady loop fails', async (t) => {
  const h = hearth;
  if (h === undefined) throw new Error('not started');
  const c = client();
  await c.state.save('statestore', [{ key: 'steady', value: 'v' }]);
  let stop = false;
  const failures: string[] = [];
  let done = 0;
  const loop = async (): Promise<void> => {
    while (!stop) {
      try {
        const res = await fetch(`http://127.0.0.1:${demoPort}/v1.0/state/statestore/steady`, { headers: { 'dapr-api-token': DEMO_TOKEN } });
        if (res.status !== 200) failures.push(`state ${res.status} ${await res.text()}`);
        else await res.arrayBuffer();
        const inv = await fetch(`http://127.0.0.1:${demoPort}/v1.0/invoke/svc/method/orders`, {
          method: 'POST',
          headers: { 'dapr-api-token': DEMO_TOKEN, 'content-type': 'application/json' },
          body: JSON.stringify({ n: done }),
        });
        if (inv.status !== 200) failures.push(`invoke ${inv.status} ${await inv.text()}`);
        else await inv.arrayBuffer();
        done += 1;
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const loops = [loop(), loop()];
  const r = await runHearthCli(['reload', '--config', h.configPath], { cwd: h.dir, timeoutMs: 90_000 });
  stop = true;
  await Promise.all(loops);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual(failures, []);
  t.true(done > 10, `only ${done} rounds ran`);
});
