import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { callError } from '../helpers/grpc-client.js';
import { subscribe } from '../helpers/grpc-subscription.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

let rt: InProcess<'grpc'>;
test.before(async () => {
  rt = await startInProcess({ transports: ['grpc'] });
});
test.after.always(async () => {
  await rt?.close();
});

const S = 'statestore';

test('the same key is a different item per app', async (t) => {
  await rt.demo.grpc.clients.state.SaveState({ storeName: S, states: [{ key: 'mine', value: Buffer.from('demo-secret') }] });
  t.false((await rt.other.grpc.clients.state.GetState({ storeName: S, key: 'mine' })).found);
  const bulk = await rt.other.grpc.clients.state.GetBulkState({ storeName: S, keys: ['mine'] });
  t.false(bulk.items[0]?.found);
  t.false((await rt.other.grpc.clients.state.DeleteState({ storeName: S, key: 'mine' })).deleted);

  await rt.other.grpc.clients.state.SaveState({ storeName: S, states: [{ key: 'mine', value: Buffer.from('other-value') }] });
  t.is((await rt.demo.grpc.clients.state.GetState({ storeName: S, key: 'mine' })).data.toString(), 'demo-secret');
  t.is((await rt.other.grpc.clients.state.GetState({ storeName: S, key: 'mine' })).data.toString(), 'other-value');
});

test("another app's token on this app's socket is UNAUTHENTICATED", async (t) => {
  const impostor = rt.grpcClients(rt.demo.grpc.socket, rt.other.token);
  const e = callError(await t.throwsAsync(impostor.state.GetState({ storeName: S, key: 'mine' })));
  t.is(e.code, grpc.status.UNAUTHENTICATED);
  t.is(e.hearthCode, 'HEARTH_ERR_UNAUTHENTICATED');
  t.notRegex(e.details, new RegExp(rt.other.token));
});

test('a missing or malformed token is UNAUTHENTICATED, on unary calls and streams', async (t) => {
  const anonymous = rt.grpcClients(rt.demo.grpc.socket);
  for (const call of [
    () => anonymous.state.GetState({ storeName: S, key: 'k' }),
    () => anonymous.metadata.GetMetadata({}),
    () => anonymous.lock.TryLock({ storeName: 'lockstore', resourceId: 'r', lockOwner: 'o', expiryInSeconds: 1 }),
  ]) {
    const e = callError(await t.throwsAsync(call()));
    t.is(e.code, grpc.status.UNAUTHENTICATED);
    t.is(e.hearthCode, 'HEARTH_ERR_UNAUTHENTICATED');
  }
  const wrongScheme = new grpc.Metadata();
  wrongScheme.set('authorization', 'Basic ZGVtbzpkZW1v');
  t.is(callError(await t.throwsAsync(rt.demo.grpc.clients.state.GetState({ storeName: S, key: 'k' }, wrongScheme))).hearthCode, 'HEARTH_ERR_UNAUTHENTICATED');

  const sub = subscribe(anonymous, { pubsubName: 'pubsub', topic: 'orders' });
  const end = await sub.ended;
  t.is(end.code, grpc.status.UNAUTHENTICATED);
  t.is(end.hearthCode, 'HEARTH_ERR_UNAUTHENTICATED');

  const cfg = anonymous.configuration.SubscribeConfiguration({ storeName: 'appconfig', keys: [] });
  const cfgEnd = await new Promise<ReturnType<typeof callError>>((resolve) => cfg.on('error', (err) => resolve(callError(err))));
  t.is(cfgEnd.hearthCode, 'HEARTH_ERR_UNAUTHENTICATED');
});

test('a component outside the ACL is PERMISSION_DENIED', async (t) => {
  const e = callError(await t.throwsAsync(rt.other.grpc.clients.state.GetState({ storeName: 'private', key: 'k' })));
  t.is(e.code, grpc.status.PERMISSION_DENIED);
  t.is(e.hearthCode, 'HEARTH_ERR_PERMISSION_DENIED');
  // `demo` may use it.
  t.false((await rt.demo.grpc.clients.state.GetState({ storeName: 'private', key: 'k' })).found);
});
