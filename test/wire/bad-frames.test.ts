// Bad input on the wire socket and on the TLS sibling port: a malformed, truncated or oversize
// frame closes only the connection it came on (Goaway with the code first, where one is owed);
// a bad call (unknown method, malformed body, wrong token) is answered on its own stream and the
// connection carries on. Another connection of the same app keeps working throughout.
import test, { type ExecutionContext } from 'ava';
import { encodeFrame, FrameType } from '@hearth/protocol';

import { startInProcess, type InProcess } from '../helpers/in-process.js';
import type { WireTestClient } from '../helpers/wire-test-client.js';
import { waitFor } from '../support/wait.js';

const MAX_BODY = 64 * 1024;
const FRAME_TIMEOUT_MS = 400;
let rt: InProcess<'wire'>;
test.before(async () => {
  rt = await startInProcess({ transports: ['wire'], limits: { maxBodyBytes: MAX_BODY }, frameTimeoutMs: FRAME_TIMEOUT_MS });
});
test.after.always(async () => {
  await rt?.close();
});

const GET = 'hearth.runtime.v1.State/GetState';
const CONFIG_STREAM = 'hearth.runtime.v1.Configuration/SubscribeConfiguration';

interface Port {
  readonly name: string;
  connect(): Promise<WireTestClient>;
  /** The header a good call of app demo carries on this port. */
  readonly auth: { token: string; caller?: string };
}

const ports: Port[] = [
  { name: 'wire.sock', connect: () => rt.connect(rt.demo.wire.socket), auth: { get token() { return rt.demo.token; } } },
  { name: 'sibling port', connect: () => rt.connectSibling(), auth: { get token() { return rt.demo.token; }, caller: 'demo' } },
];

async function works(t: ExecutionContext, c: WireTestClient, port: Port): Promise<void> {
  const a = await c.call(GET, { storeName: 'statestore', key: 'alive' }, port.auth);
  t.is(a.code, undefined, `${port.name}: ${a.code ?? ''} ${a.header.errorMessage ?? ''}`);
}

/** Raw frame bytes with a hand-set prelude. */
function prelude(length: number, version: number, type: number, streamId: number, headerLength: number, rest: number[] = []): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(length, 0);
  b.writeUInt8(version, 4);
  b.writeUInt8(type, 5);
  b.writeUInt32BE(streamId, 8);
  b.writeUInt32BE(headerLength, 12);
  return Buffer.concat([b, Buffer.from(rest)]);
}

/** `lastStream`: the highest stream the server accepted before the bad frame (1 unless said). */
const connectionErrors: { what: string; code: string; lastStream?: number; send: (c: WireTestClient, port: Port) => void }[] = [
  { what: 'a wrong version', code: 'HEARTH_ERR_MALFORMED_FRAME', send: (c) => c.sendRaw(prelude(12, 2, 1, 1, 0)) },
  { what: 'an unknown frame type', code: 'HEARTH_ERR_MALFORMED_FRAME', send: (c) => c.sendRaw(prelude(12, 1, 42, 1, 0)) },
  { what: 'a length below 12', code: 'HEARTH_ERR_MALFORMED_FRAME', send: (c) => c.sendRaw(Buffer.from([0, 0, 0, 5, 1, 1, 0, 0, 0])) },
  { what: 'a header that overruns the frame', code: 'HEARTH_ERR_MALFORMED_FRAME', send: (c) => c.sendRaw(prelude(14, 1, 1, 1, 9, [0x0a, 0x00])) },
  { what: 'garbage header bytes', code: 'HEARTH_ERR_MALFORMED_FRAME', send: (c) => c.sendRaw(prelude(15, 1, 1, 1, 3, [0xff, 0xff, 0xff])) },
  {
    what: 'a Request on stream 0',
    code: 'HEARTH_ERR_MALFORMED_FRAME',
    send: (c, port) => c.send({ type: FrameType.Request, streamId: 0, header: { method: GET, ...port.auth } }),
  },
  {
    what: 'a Request on a stream already open',
    code: 'HEARTH_ERR_MALFORMED_FRAME',
    lastStream: 2,
    send: (c, port) => {
      const id = c.open(CONFIG_STREAM, { storeName: 'appconfig', keys: [] }, port.auth);
      c.open(GET, { storeName: 'statestore', key: 'k' }, port.auth, id);
    },
  },
  {
    what: 'a Request reusing the id of a stream already finished',
    code: 'HEARTH_ERR_MALFORMED_FRAME',
    send: (c, port) => c.send({ type: FrameType.Request, streamId: 1, header: { method: GET, ...port.auth } }),
  },
  { what: 'a Response sent by a client', code: 'HEARTH_ERR_MALFORMED_FRAME', send: (c) => c.send({ type: FrameType.Response, streamId: 3 }) },
  { what: 'an oversize frame', code: 'HEARTH_ERR_BODY_TOO_LARGE', send: (c) => c.sendRaw(prelude(MAX_BODY + 64 * 1024 + 1, 1, 1, 1, 0)) },
  { what: 'a frame left incomplete past the frame timeout', code: 'HEARTH_ERR_MALFORMED_FRAME', send: (c) => c.sendRaw(prelude(100, 1, 1, 1, 0)) },
];

for (const port of ports) {
  for (const bad of connectionErrors) {
    test(`${port.name}: ${bad.what} is answered with Goaway ${bad.code} and closes only that connection`, async (t) => {
      const bystander = await port.connect();
      await works(t, bystander, port);
      const c = await port.connect();
      await works(t, c, port); // one stream accepted: the Goaway names it
      bad.send(c, port);
      const goaway = await c.goaway();
      t.is(goaway.header.errorCode, bad.code);
      t.truthy(goaway.header.errorMessage);
      t.is(goaway.streamId, bad.lastStream ?? 1);
      await c.closed;
      await works(t, bystander, port);
      await works(t, await port.connect(), port);
    });
  }

  test(`${port.name}: a connection that ends in the middle of a frame is closed and logged as truncated`, async (t) => {
    const bystander = await port.connect();
    const c = await port.connect();
    const whole = encodeFrame({ type: FrameType.Request, streamId: 1, header: { method: GET, ...port.auth }, body: Buffer.from([0x0a, 0x01, 0x73]) });
    c.sendRaw(whole.subarray(0, whole.length - 2));
    c.endInput();
    await c.closed;
    await waitFor('the truncated frame in the log', async () => (/truncated/.test(rt.logText()) ? true : undefined), { timeoutMs: 10_000, everyMs: 20 });
    t.pass();
    await works(t, bystander, port);
  });

  test(`${port.name}: unknown method, malformed body and wrong token are answered on their stream; the connection carries on`, async (t) => {
    const c = await port.connect();
    await works(t, c, port);

    const sid = c.streamId();
    c.send({ type: FrameType.Request, streamId: sid, header: { method: 'hearth.runtime.v1.State/NoSuchMethod', ...port.auth } });
    t.is((await c.answer(sid, GET)).code, 'HEARTH_ERR_NOT_FOUND');
    const proto = c.streamId();
    c.send({ type: FrameType.Request, streamId: proto, header: { method: 'constructor', ...port.auth } });
    t.is((await c.answer(proto, GET)).code, 'HEARTH_ERR_NOT_FOUND');

    const bodySid = c.streamId();
    c.send({ type: FrameType.Request, streamId: bodySid, header: { method: GET, ...port.auth }, body: Buffer.from([0xff, 0xff, 0xff, 0xff]) });
    t.is((await c.answer(bodySid, GET)).code, 'HEARTH_ERR_MALFORMED_REQUEST');

    const wrong = await c.call(GET, { storeName: 'statestore', key: 'k' }, { ...port.auth, token: 'not-the-token' });
    t.is(wrong.code, 'HEARTH_ERR_UNAUTHENTICATED');
    const otherApps = await c.call(GET, { storeName: 'statestore', key: 'k' }, { ...port.auth, token: rt.other.token });
    t.is(otherApps.code, 'HEARTH_ERR_UNAUTHENTICATED');
    t.false(c.isClosed);
    await works(t, c, port);
  });

  test(`${port.name}: a malformed message on an open stream fails that stream only`, async (t) => {
    const c = await port.connect();
    const SUB = 'hearth.runtime.v1.PubSub/Subscribe';
    const sid = c.open(SUB, { initial: { pubsubName: 'pubsub', topic: `bad-msg-${port.name.length}` } }, port.auth);
    await c.streamMessage(sid, SUB);
    c.send({ type: FrameType.Message, streamId: sid, body: Buffer.from([0xff, 0xff, 0xff]) });
    t.is((await c.answer(sid, SUB)).code, 'HEARTH_ERR_MALFORMED_REQUEST');
    await works(t, c, port);
  });
}

test('wire.sock: a caller other than the socket\'s app is refused on its stream', async (t) => {
  const c = await rt.connect(rt.demo.wire.socket);
  const a = await c.call(GET, { storeName: 'statestore', key: 'k' }, { token: rt.demo.token, caller: 'other' });
  t.is(a.code, 'HEARTH_ERR_PERMISSION_DENIED');
  const same = await c.call(GET, { storeName: 'statestore', key: 'k' }, { token: rt.demo.token, caller: 'demo' });
  t.is(same.code, undefined);
  // Another app's token on this app's socket is not this app's token.
  const foreign = await c.call(GET, { storeName: 'statestore', key: 'k' }, { token: rt.other.token, caller: 'other' });
  t.is(foreign.code, 'HEARTH_ERR_UNAUTHENTICATED');
});
