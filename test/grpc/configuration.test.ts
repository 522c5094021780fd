import { writeFile } from 'node:fs/promises';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { callError, type ConfigurationItem } from '../helpers/grpc-client.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';

let rt: InProcess<'grpc'>;
test.before(async () => {
  rt = await startInProcess({ transports: ['grpc'] });
});
test.after.always(async () => {
  await rt?.close();
});

const C = 'appconfig';

test('get returns the requested items, or all of them for no keys', async (t) => {
  const { configuration } = rt.demo.grpc.clients;
  const some = await configuration.GetConfiguration({ storeName: C, keys: ['feature', 'missing'] });
  t.deepEqual(Object.keys(some.items), ['feature']);
  t.like(some.items.feature, { value: 'on', version: '7', metadata: { owner: 'ops' }, deleted: false });
  const all = await configuration.GetConfiguration({ storeName: C, keys: [] });
  t.deepEqual(Object.keys(all.items).sort(), ['feature', 'greeting']);
  t.is(all.items.greeting?.value, 'hello');
});

test('subscribe sends the current items, then each change; cancel unsubscribes', async (t) => {
  const stream = rt.demo.grpc.clients.configuration.SubscribeConfiguration({ storeName: C, keys: ['greeting'] });
  const messages: Record<string, ConfigurationItem>[] = [];
  let wake: (() => void) | undefined;
  stream.on('data', (m: { id: string; items: Record<string, ConfigurationItem> }) => {
    t.truthy(m.id);
    messages.push(m.items);
    wake?.();
  });
  const ended = new Promise<grpc.status>((resolve) => stream.on('error', (err) => resolve(callError(err).code)));
  const received = async (n: number): Promise<void> => {
    while (messages.length < n) await new Promise<void>((r) => (wake = r));
  };
  await received(1);
  t.is(messages[0]?.greeting?.value, 'hello');

  await writeFile(rt.configurationFile, 'greeting: bonjour\nfeature:\n  value: "on"\n  version: "7"\n');
  // Wait until the edit shows up (a replayed initial state may come first).
  while (messages.at(-1)?.greeting?.value !== 'bonjour') await received(messages.length + 1);
  t.is(messages.at(-1)?.greeting?.value, 'bonjour');

  const cancelled = { api: 'configuration.subscribe', code: 'CANCELLED' };
  const before = await rt.requests(cancelled);
  stream.cancel();
  t.is(await ended, grpc.status.CANCELLED);
  // The server saw the cancel (and unsubscribed with it): the stream ended as CANCELLED.
  await waitFor('the server to end the stream as cancelled', async () => (await rt.requests(cancelled)) > before, { timeoutMs: Infinity, everyMs: 20 });
  t.pass();
});

test('unknown configuration store and bad keys', async (t) => {
  const unknown = callError(await t.throwsAsync(rt.demo.grpc.clients.configuration.GetConfiguration({ storeName: 'nope', keys: [] })));
  t.is(unknown.code, grpc.status.INVALID_ARGUMENT);
  t.is(unknown.hearthCode, 'HEARTH_ERR_STORE_NOT_FOUND');
  const badKey = callError(await t.throwsAsync(rt.demo.grpc.clients.configuration.GetConfiguration({ storeName: C, keys: ['a\u0001'] })));
  t.is(badKey.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT');

  const stream = rt.demo.grpc.clients.configuration.SubscribeConfiguration({ storeName: 'nope', keys: [] });
  const e = await new Promise<ReturnType<typeof callError>>((resolve) => stream.on('error', (err) => resolve(callError(err))));
  t.is(e.hearthCode, 'HEARTH_ERR_STORE_NOT_FOUND');
});
