// Configuration: Dapr's GET, and the Hearth-only SSE subscription that sees file edits.
import { writeFile } from 'node:fs/promises';
import anyTest, { type TestFn } from 'ava';
import type { ServerSentEvent } from '../helpers/http-client.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

const test = anyTest.serial as TestFn<{ h: InProcess<'http'> }>;

interface Item {
  value: string;
  version: string;
  metadata: Record<string, string>;
  deleted?: boolean;
}

interface ConfigEvent {
  id: string;
  items: Record<string, Item>;
}

const ITEMS = 'greeting: hello\nfeature:\n  value: "on"\n  version: "7"\n  metadata:\n    owner: ops\n';

test.before(async (t) => {
  t.context.h = await startInProcess({ transports: ['http'], configurationItems: ITEMS });
});
test.after.always(async (t) => {
  await t.context.h?.close();
});

test('GET /v1.0/configuration with repeated key params returns Dapr-shaped items', async (t) => {
  const res = await t.context.h.demo.http.client.get('/v1.0/configuration/appconfig?key=greeting&key=feature&key=absent');
  t.is(res.status, 200);
  const items = res.json<Record<string, Item>>();
  t.deepEqual(Object.keys(items).sort(), ['feature', 'greeting']);
  t.deepEqual(items.feature, { value: 'on', version: '7', metadata: { owner: 'ops' } });
  t.is(items.greeting?.value, 'hello');
  t.is(typeof items.greeting?.version, 'string');
});

test('GET with one key, and with no key (= every key); the alpha1 path works too', async (t) => {
  const c = t.context.h.demo.http.client;
  const one = (await c.get('/v1.0/configuration/appconfig?key=greeting')).json<Record<string, Item>>();
  t.deepEqual(Object.keys(one), ['greeting']);
  const all = (await c.get('/v1.0/configuration/appconfig')).json<Record<string, Item>>();
  t.true('greeting' in all && 'feature' in all);
  const alpha = await c.get('/v1.0-alpha1/configuration/appconfig?key=feature');
  t.is(alpha.status, 200);
  t.deepEqual(Object.keys(alpha.json<Record<string, Item>>()), ['feature']);
});

test('SSE subscription: initial items first, then a file edit, then a removal', async (t) => {
  const { h } = t.context;
  const stream = await h.demo.http.client.events('/v1.0-hearth/configuration/appconfig/subscribe?key=greeting&key=feature');
  t.teardown(() => stream.close());
  t.is(stream.status, 200);
  t.regex(String(stream.headers['content-type']), /^text\/event-stream/);

  const first = await nextConfig(stream.next());
  t.truthy(first.id);
  t.is(first.items.greeting?.value, 'hello');
  t.is(first.items.feature?.value, 'on');

  await writeFile(h.configurationFile, ITEMS.replace('hello', 'bonjour'));
  const changed = await nextConfig(stream.next());
  t.is(changed.id, first.id);
  t.is(changed.items.greeting?.value, 'bonjour');

  await writeFile(h.configurationFile, 'feature:\n  value: "on"\n  version: "7"\n  metadata:\n    owner: ops\n');
  const removed = await nextConfig(stream.next());
  t.is(removed.items.greeting?.deleted, true);

  // GET agrees with what the stream said.
  const now = (await h.demo.http.client.get('/v1.0/configuration/appconfig')).json<Record<string, Item>>();
  t.false('greeting' in now);
  await writeFile(h.configurationFile, ITEMS);
  t.is((await nextConfig(stream.next())).items.greeting?.value, 'hello');
});

test('SSE subscription errors before streaming are ordinary coded JSON errors', async (t) => {
  const c = t.context.h.demo.http.client;
  const unknown = await c.events('/v1.0-hearth/configuration/nosuch/subscribe');
  t.is(unknown.status, 400);
  await unknown.waitEnd();
  t.is((JSON.parse(unknown.body().toString('utf8')) as { errorCode: string }).errorCode, 'HEARTH_ERR_STORE_NOT_FOUND');

  const anon = await c.events('/v1.0-hearth/configuration/appconfig/subscribe', { token: null });
  t.is(anon.status, 401);
  anon.close();
});

test('a client closing its SSE stream unsubscribes (server keeps serving)', async (t) => {
  const { h } = t.context;
  const stream = await h.demo.http.client.events('/v1.0-hearth/configuration/appconfig/subscribe?key=feature');
  await nextConfig(stream.next());
  stream.close();
  t.is((await h.demo.http.client.get('/v1.0/configuration/appconfig?key=feature')).status, 200);
});

async function nextConfig(p: Promise<ServerSentEvent | undefined>): Promise<ConfigEvent> {
  const e = await p;
  if (!e) throw new Error('stream ended before the next event');
  if (e.event !== 'configuration') throw new Error(`unexpected event ${e.event}: ${e.data}`);
  return e.json<ConfigEvent>();
}
