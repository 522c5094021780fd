import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { callError } from '../helpers/grpc-client.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

let rt: InProcess<'grpc'>;
const MAX_BODY = 64 * 1024;
test.before(async () => {
  rt = await startInProcess({ transports: ['grpc'], limits: { maxKeyBytes: 64, maxBulkKeys: 5, maxTransactionOps: 3, maxBodyBytes: MAX_BODY } });
});
test.after.always(async () => {
  await rt?.close();
});

const S = 'statestore';

/** After every bad input the server must still answer a good request. */
async function stillServes(t: ExecutionContext): Promise<void> {
  await rt.demo.grpc.clients.state.SaveState({ storeName: S, states: [{ key: 'alive', value: Buffer.from('yes') }] });
  t.is((await rt.demo.grpc.clients.state.GetState({ storeName: S, key: 'alive' })).data.toString(), 'yes');
}

test('keys that are empty, too long, with control characters or the separator are INVALID_KEY', async (t) => {
  const { state } = rt.demo.grpc.clients;
  for (const key of ['', 'k'.repeat(65), 'é'.repeat(33), 'a\u0000b', 'line\nbreak', 'tab\t', 'del\u007f', 'a||b']) {
    for (const call of [
      () => state.GetState({ storeName: S, key }),
      () => state.SaveState({ storeName: S, states: [{ key, value: Buffer.from('x') }] }),
      () => state.DeleteState({ storeName: S, key }),
      () => state.GetBulkState({ storeName: S, keys: ['fine', key] }),
      () => state.ExecuteStateTransaction({ storeName: S, operations: [{ operationType: 'upsert', request: { key, value: Buffer.from('x') } }] }),
    ]) {
      const e = callError(await t.throwsAsync(call()));
      t.is(e.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(key));
      t.is(e.hearthCode, 'HEARTH_ERR_INVALID_KEY', JSON.stringify(key));
    }
  }
  // 64 bytes exactly is fine.
  await state.SaveState({ storeName: S, states: [{ key: 'k'.repeat(64), value: Buffer.from('x') }] });
  await stillServes(t);
});

test('a bad item in a multi-item save writes nothing', async (t) => {
  const { state } = rt.demo.grpc.clients;
  const e = callError(
    await t.throwsAsync(
      state.SaveState({
        storeName: S,
        states: [
          { key: 'good-first', value: Buffer.from('x') },
          { key: 'bad\u0001', value: Buffer.from('x') },
        ],
      }),
    ),
  );
  t.is(e.hearthCode, 'HEARTH_ERR_INVALID_KEY');
  t.false((await state.GetState({ storeName: S, key: 'good-first' })).found);
});

test('an unknown store is STORE_NOT_FOUND naming it', async (t) => {
  const e = callError(await t.throwsAsync(rt.demo.grpc.clients.state.GetState({ storeName: 'no-such-store', key: 'k' })));
  t.is(e.code, grpc.status.INVALID_ARGUMENT);
  t.is(e.hearthCode, 'HEARTH_ERR_STORE_NOT_FOUND');
  t.regex(e.details, /no-such-store/);
  // A component of another block is not a state store.
  t.is(callError(await t.throwsAsync(rt.demo.grpc.clients.state.GetState({ storeName: 'lockstore', key: 'k' }))).hearthCode, 'HEARTH_ERR_STORE_NOT_FOUND');
  await stillServes(t);
});

test('bulk and transaction sizes are limited', async (t) => {
  const { state } = rt.demo.grpc.clients;
  const bulk = callError(await t.throwsAsync(state.GetBulkState({ storeName: S, keys: ['1', '2', '3', '4', '5', '6'] })));
  t.is(bulk.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT');
  const ops = Array.from({ length: 4 }, (_, i) => ({ operationType: 'upsert', request: { key: `op${i}`, value: Buffer.from('x') } }));
  const tx = callError(await t.throwsAsync(state.ExecuteStateTransaction({ storeName: S, operations: ops })));
  t.is(tx.hearthCode, 'HEARTH_ERR_INVALID_ARGUMENT');
  t.is((await state.ExecuteStateTransaction({ storeName: S, operations: ops.slice(0, 3) })).etags.length, 3);
  await stillServes(t);
});

test('an oversize message is RESOURCE_EXHAUSTED from grpc-js (no trailer code)', async (t) => {
  const e = callError(
    await t.throwsAsync(rt.demo.grpc.clients.state.SaveState({ storeName: S, states: [{ key: 'big', value: Buffer.alloc(MAX_BODY + 1) }] })),
  );
  t.is(e.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(e.hearthCode, undefined);
  t.regex(e.details, /larger than max/);
  t.false((await rt.demo.grpc.clients.state.GetState({ storeName: S, key: 'big' })).found);
  await stillServes(t);
});

test('malformed protobuf is INVALID_ARGUMENT + HEARTH_ERR_MALFORMED_REQUEST', async (t) => {
  // Bytes protobufjs refuses. (It reads a truncated string leniently, up to the end of the
  // buffer: such input decodes and is then validated like any request.)
  const garbage = [
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), // an endless varint tag
    Buffer.from([0x0f]), // wire type 7 does not exist
    Buffer.from([0x08, 0xff]), // truncated varint
  ];
  for (const bytes of garbage) {
    for (const path of ['/hearth.runtime.v1.State/GetState', '/hearth.runtime.v1.PubSub/Publish', '/hearth.runtime.v1.Lock/TryLock']) {
      const e = callError(await t.throwsAsync(rt.demo.grpc.clients.rawUnary(path, bytes)));
      t.is(e.code, grpc.status.INVALID_ARGUMENT, path);
      t.is(e.hearthCode, 'HEARTH_ERR_MALFORMED_REQUEST', path);
    }
  }
  // Without a token, authentication is checked first.
  const anonymous = rt.grpcClients(rt.demo.grpc.socket);
  t.is(
    callError(await t.throwsAsync(anonymous.rawUnary('/hearth.runtime.v1.State/GetState', garbage[0]!))).hearthCode,
    'HEARTH_ERR_UNAUTHENTICATED',
  );
  await stillServes(t);
});

test('malformed bytes on the subscription stream end it with HEARTH_ERR_MALFORMED_REQUEST', async (t) => {
  const client = new grpc.Client(`unix:${rt.demo.grpc.socket}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const identity = (b: Buffer): Buffer => b;
  const stream = client.makeBidiStreamRequest('/hearth.runtime.v1.PubSub/Subscribe', identity, identity, rt.demo.grpc.clients.authMetadata());
  const ended = new Promise<ReturnType<typeof callError>>((resolve) => stream.on('error', (err) => resolve(callError(err))));
  stream.write(Buffer.from([0xff, 0xff, 0xff]));
  const e = await ended;
  t.is(e.code, grpc.status.INVALID_ARGUMENT);
  t.is(e.hearthCode, 'HEARTH_ERR_MALFORMED_REQUEST');
  await stillServes(t);
});

test('an unknown method is UNIMPLEMENTED', async (t) => {
  const e = callError(await t.throwsAsync(rt.demo.grpc.clients.rawUnary('/hearth.runtime.v1.State/Nope', Buffer.alloc(0))));
  t.is(e.code, grpc.status.UNIMPLEMENTED);
  await stillServes(t);
});
