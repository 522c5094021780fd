import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { callError } from '../helpers/grpc-client.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

let rt: InProcess<'grpc'>;
test.before(async () => {
  rt = await startInProcess({ transports: ['grpc'] });
});
test.after.always(async () => {
  await rt?.close();
});

const L = 'lockstore';

test('try-lock, keep-alive and unlock by the owner; another owner is refused', async (t) => {
  const { lock } = rt.demo.grpc.clients;
  const req = { storeName: L, resourceId: 'orders', lockOwner: 'w1', expiryInSeconds: 30 };
  t.true((await lock.TryLock(req)).success);
  t.false((await lock.TryLock({ ...req, lockOwner: 'w2' })).success);
  t.true((await lock.KeepAlive(req)).success);
  t.false((await lock.KeepAlive({ ...req, lockOwner: 'w2' })).success);
  t.is((await lock.Unlock({ storeName: L, resourceId: 'orders', lockOwner: 'w2' })).status, 'LOCK_BELONGS_TO_OTHERS');
  t.is((await lock.Unlock({ storeName: L, resourceId: 'orders', lockOwner: 'w1' })).status, 'SUCCESS');
  t.is((await lock.Unlock({ storeName: L, resourceId: 'orders', lockOwner: 'w1' })).status, 'LOCK_DOES_NOT_EXIST');
  t.true((await lock.TryLock({ ...req, lockOwner: 'w2' })).success);
  t.false((await lock.KeepAlive({ ...req, resourceId: 'never-locked' })).success);
});

test('lock resources are per app: the same id does not contend across apps', async (t) => {
  const req = { storeName: L, resourceId: 'per-app', lockOwner: 'me', expiryInSeconds: 30 };
  t.true((await rt.demo.grpc.clients.lock.TryLock(req)).success);
  t.true((await rt.other.grpc.clients.lock.TryLock({ ...req, lockOwner: 'someone-else' })).success);
  t.is((await rt.other.grpc.clients.lock.Unlock({ storeName: L, resourceId: 'per-app', lockOwner: 'me' })).status, 'LOCK_BELONGS_TO_OTHERS');
});

test('expiry must be positive; owner and resource are validated', async (t) => {
  const { lock } = rt.demo.grpc.clients;
  for (const expiryInSeconds of [0, -5]) {
    const e = callError(await t.throwsAsync(lock.TryLock({ storeName: L, resourceId: 'x', lockOwner: 'o', expiryInSeconds })));
    t.is(e.code, grpc.status.INVALID_ARGUMENT);
    t.is(e.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT');
  }
  const owner = callError(await t.throwsAsync(lock.TryLock({ storeName: L, resourceId: 'x', lockOwner: '', expiryInSeconds: 5 })));
  t.is(owner.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT');
  const resource = callError(await t.throwsAsync(lock.Unlock({ storeName: L, resourceId: 'a||b', lockOwner: 'o' })));
  t.is(resource.hearthCode, 'HEARTH_ERR_INVALID_KEY');
});

test('sequencer ids are strictly increasing per key and independent per app', async (t) => {
  const { sequencer } = rt.demo.grpc.clients;
  const ids: bigint[] = [];
  for (let i = 0; i < 5; i++) ids.push(BigInt((await sequencer.GetNextId({ storeName: 'sequencer', key: 'orders' })).nextId));
  for (let i = 1; i < ids.length; i++) t.true(ids[i]! > ids[i - 1]!);
  const concurrent = await Promise.all(Array.from({ length: 20 }, () => sequencer.GetNextId({ storeName: 'sequencer', key: 'orders' })));
  t.is(new Set(concurrent.map((r) => r.nextId)).size, 20);
  t.true(concurrent.every((r) => BigInt(r.nextId) > ids.at(-1)!));
  // `other` has its own `orders` sequence.
  t.is((await rt.other.grpc.clients.sequencer.GetNextId({ storeName: 'sequencer', key: 'orders' })).nextId, '1');
  const bad = callError(await t.throwsAsync(sequencer.GetNextId({ storeName: 'sequencer', key: '' })));
  t.is(bad.hearthCode, 'HEARTH_ERR_INVALID_KEY');
});
