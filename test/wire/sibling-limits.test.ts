// What a stranger can hold on the TLS sibling port: before a connection's first authenticated
// Request its frames (and the bytes of an incomplete one) are limited to 64 KiB and it must
// authenticate within the sign-in timeout (lowered here, below the handshake timeout), counted from
// accept; the listener takes a capped number of connections and refuses the rest at once. wire.sock keeps its behaviour (its socket
// permissions are the gate): a large first frame is fine there.
import net from 'node:net';
import test from 'ava';
import { encodeFrame, FrameType } from '@hearth/protocol';

import { startInProcess, type InProcess } from '../helpers/in-process.js';
import type { WireTestClient } from '../helpers/wire-test-client.js';
import { waitFor } from '../support/wait.js';

const MAX_CONNECTIONS = 4;
const PRE_AUTH_TIMEOUT_MS = 500;
/** Long enough for the tests that use a connection several times; the idle test waits it out. */
const IDLE_TIMEOUT_MS = 4_000;
const GET = 'hearth.runtime.v1.State/GetState';
let rt: InProcess<'wire'>;
const clients: WireTestClient[] = [];
test.before(async () => {
  rt = await startInProcess({
    transports: ['wire'],
    siblingLimits: { maxConnections: MAX_CONNECTIONS, maxConnectionsPerAddress: MAX_CONNECTIONS, signInTimeoutMs: PRE_AUTH_TIMEOUT_MS },
    siblingIdleTimeoutMs: IDLE_TIMEOUT_MS,
  });
});
test.after.always(async () => {
  for (const c of clients) c.close();
  await rt?.close();
});

async function sibling(): Promise<WireTestClient> {
  const c = await rt.connectSibling();
  clients.push(c);
  return c;
}

const auth = (): { token: string; caller: string } => ({ token: rt.demo.token, caller: 'demo' });

/** A GetState Request whose key makes the frame about `bytes` long (the body is not valid for the store, but parses). */
function bigRequest(streamId: number, bytes: number): Buffer {
  return encodeFrame({ type: FrameType.Request, streamId, header: { method: GET, ...auth() }, body: getBody('k'.repeat(bytes)) });
}

function getBody(key: string): Buffer {
  // GetStateRequest { store_name = 1, key = 2 }, hand-encoded to control the size exactly.
  const store = Buffer.from('statestore');
  const k = Buffer.from(key);
  return Buffer.concat([Buffer.from([0x0a, store.length]), store, Buffer.from([0x12]), varint(k.length), k]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

test.serial('before authentication a frame over 64 KiB is answered with Goaway HEARTH_ERR_BODY_TOO_LARGE and the connection closes', async (t) => {
  const c = await sibling();
  c.sendRaw(bigRequest(1, 100 * 1024));
  const goaway = await c.goaway();
  t.is(goaway.header.errorCode, 'HEARTH_ERR_BODY_TOO_LARGE');
  await c.closed;
});

test.serial('before authentication an incomplete frame may not hold more than 64 KiB', async (t) => {
  const c = await sibling();
  const whole = bigRequest(1, 1024 * 1024);
  c.sendRaw(whole.subarray(0, 200 * 1024));
  const goaway = await c.goaway();
  t.is(goaway.header.errorCode, 'HEARTH_ERR_BODY_TOO_LARGE');
  await c.closed;
});

test.serial('after an authenticated Request, frames up to limits.maxBodyBytes are read, even in the same write', async (t) => {
  const c = await sibling();
  const first = encodeFrame({ type: FrameType.Request, streamId: 1, header: { method: GET, ...auth() }, body: getBody('small') });
  c.sendRaw(Buffer.concat([first, bigRequest(2, 100 * 1024)]));
  t.is((await c.answer(1, GET)).code, undefined);
  const big = await c.nextOn(2, FrameType.Response);
  t.not(big.header.errorCode, 'HEARTH_ERR_BODY_TOO_LARGE');
  t.false(c.isClosed);
});

test.serial('a connection with no authenticated Request is closed after the timeout with Goaway HEARTH_ERR_UNAUTHENTICATED; failed attempts do not count; authenticated connections stay', async (t) => {
  const authed = await sibling();
  t.is((await authed.call(GET, { storeName: 'statestore', key: 'k' }, auth())).code, undefined);
  const silent = await sibling();
  const wrong = await sibling();
  t.is((await wrong.call(GET, { storeName: 'statestore', key: 'k' }, { token: 'not-the-token-0123456789abcdef0123456789', caller: 'demo' })).code, 'HEARTH_ERR_UNAUTHENTICATED');
  for (const c of [silent, wrong]) {
    const goaway = await c.goaway();
    t.is(goaway.header.errorCode, 'HEARTH_ERR_UNAUTHENTICATED');
    await c.closed;
  }
  // Opened before both, so its own timeout has long passed: authenticated, it is still served.
  t.false(authed.isClosed);
  t.is((await authed.call(GET, { storeName: 'statestore', key: 'k' }, auth())).code, undefined);
});

test.serial('a signed-in connection with nothing open is told to go once idle (budgets.idleTimeoutMs): it may not sit on the per-address places', async (t) => {
  const idle = await sibling();
  t.is((await idle.call(GET, { storeName: 'statestore', key: 'k' }, auth())).code, undefined);
  const goaway = await idle.goaway(IDLE_TIMEOUT_MS + 10_000);
  t.is(goaway.header.errorCode, 'HEARTH_ERR_RESOURCE_EXHAUSTED');
  await idle.closed;
});

test.serial('the sign-in timer starts at accept: a TCP connection that never starts TLS is closed after it, well before the handshake timeout', async (t) => {
  const counted = async (): Promise<number> => (await rt.metrics.siblingRefused.get()).values.find((v) => v.labels.reason === 'sign_in_timeout')?.value ?? 0;
  const before = await counted();
  const socket = net.connect({ host: '127.0.0.1', port: (await rt.sibling()).port });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // Counted when the server sees the close, a moment after the client.
  await waitFor('the sign-in timeout counted', async () => (await counted()) - before === 1, { timeoutMs: 10_000, everyMs: 20 });
  t.is((await counted()) - before, 1);
});

test.serial('beyond its connection limit the sibling port closes new connections at once and warns; a freed slot is usable again', async (t) => {
  for (const c of clients.splice(0)) c.close();
  await waitFor('earlier connections gone', async () => ((await rt.sibling()).connections() === 0 ? true : undefined), { timeoutMs: 10_000, everyMs: 20 });
  const held: WireTestClient[] = [];
  for (let i = 0; i < MAX_CONNECTIONS; i++) held.push(await sibling());
  for (const c of held) t.is((await c.call(GET, { storeName: 'statestore', key: 'k' }, auth())).code, undefined);
  await t.throwsAsync(rt.connectSibling());
  await waitFor('the refusal warning', async () => (/connection limit/.test(rt.logText()) ? true : undefined), { timeoutMs: 10_000, everyMs: 20 });
  held[0]?.close();
  const again = await waitFor(
    'a connection in the freed slot',
    async () => {
      try {
        const c = await sibling();
        return (await c.call(GET, { storeName: 'statestore', key: 'k' }, auth())).code === undefined ? c : undefined;
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 10_000, everyMs: 50 },
  );
  t.false(again.isClosed);
});

test.serial('wire.sock has no pre-authentication limits: a large first frame is read and answered', async (t) => {
  const c = await rt.connect(rt.demo.wire.socket);
  c.sendRaw(encodeFrame({ type: FrameType.Request, streamId: 1, header: { method: GET, token: rt.demo.token }, body: getBody('k'.repeat(100 * 1024)) }));
  const answer = await c.nextOn(1, FrameType.Response);
  t.not(answer.header.errorCode, 'HEARTH_ERR_BODY_TOO_LARGE');
  t.false(c.isClosed);
});
