// A flood of TCP connections on the TLS sibling port (issue 12, hole 4): connections that never
// send a ClientHello are closed after the handshake timeout, and one source address holds at most
// its share of the port, refused at accept before any TLS work, so a legitimate client from
// elsewhere still gets in and is served. Limits lowered here; other loopback addresses
// (127.0.0.2, …: Linux routes all of 127/8 to lo) stand for other hosts.
import net from 'node:net';
import test from 'ava';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import type { WireTestClient } from '../helpers/wire-test-client.js';
import { waitFor } from '../support/wait.js';

const MAX_CONNECTIONS = 6;
const PER_ADDRESS = 3;
const GET = 'hearth.runtime.v1.State/GetState';
let rt: InProcess<'wire'>;
const sockets: net.Socket[] = [];

test.before(async () => {
  rt = await startInProcess({
    transports: ['wire'],
    siblingLimits: { maxConnections: MAX_CONNECTIONS, maxConnectionsPerAddress: PER_ADDRESS, handshakeTimeoutMs: 1_000 },
  });
});
test.after.always(async () => {
  for (const s of sockets) s.destroy();
  await rt?.close();
});

interface Silent {
  readonly closed: Promise<void>;
  readonly isClosed: () => boolean;
}

/** A TCP connection to the sibling port from `localAddress` that never sends a byte; resolves once connected. */
async function silent(localAddress: string): Promise<Silent> {
  const port = (await rt.sibling()).port;
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  sockets.push(socket);
  socket.on('error', () => undefined); // a reset is one way of being closed
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { closed, isClosed: () => isClosed };
}

async function refused(reason: string): Promise<number> {
  return (await rt.metrics.siblingRefused.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** A TLS client from `localAddress` whose GetState was answered; throws if refused. */
async function servedFrom(localAddress: string): Promise<WireTestClient> {
  const c = await rt.connectSibling(false, localAddress);
  const answer = await c.call(GET, { storeName: 'statestore', key: 'k' }, { token: rt.demo.token, caller: 'demo' });
  if (answer.code !== undefined) throw new Error(`GetState answered ${answer.code}`);
  return c;
}

/** The server notices a close a moment after the client does: retried until a connection from `localAddress` is served. */
function servedAgainFrom(localAddress: string): Promise<WireTestClient> {
  return waitFor(`a connection from ${localAddress} served`, () => servedFrom(localAddress), { timeoutMs: 10_000, everyMs: 50 });
}

test.serial('connections that never send a ClientHello cannot lock a legitimate client out: one address gets its share, the rest is refused at accept, and what it holds is closed after the handshake timeout', async (t) => {
  const perAddressBefore = await refused('per_address');
  const timeoutsBefore = await refused('handshake_timeout');
  // As many as the whole port holds, all from one address.
  const flood = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => silent('127.0.0.2')));
  // Beyond its share, the address is turned away at accept…
  await waitFor('the refusals', async () => (await refused('per_address')) - perAddressBefore === MAX_CONNECTIONS - PER_ADDRESS, { timeoutMs: 10_000, everyMs: 20 });
  // …so a client on another host still gets in and is served.
  const legit = await servedFrom('127.0.0.1');
  // What the flood holds is closed after the handshake timeout, not after Node's default 120 s or never.
  await Promise.all(flood.map((f) => f.closed));
  t.true(flood.every((f) => f.isClosed()));
  // Counted when the server sees the close, a moment after the client.
  await waitFor('the handshake timeouts counted', async () => (await refused('handshake_timeout')) - timeoutsBefore === PER_ADDRESS, { timeoutMs: 10_000, everyMs: 20 });
  t.is((await refused('handshake_timeout')) - timeoutsBefore, PER_ADDRESS);
  t.is((await refused('per_address')) - perAddressBefore, MAX_CONNECTIONS - PER_ADDRESS);
  // The address is welcome again, and the legitimate connection was never disturbed.
  t.false((await servedAgainFrom('127.0.0.2')).isClosed);
  t.is((await legit.call(GET, { storeName: 'statestore', key: 'k' }, { token: rt.demo.token, caller: 'demo' })).code, undefined);
});

test.serial('one source address holds at most maxConnectionsPerAddress connections, signed in or not; other addresses are unaffected and a freed slot is usable again', async (t) => {
  const held: WireTestClient[] = [];
  for (let i = 0; i < PER_ADDRESS; i++) held.push(await servedFrom('127.0.0.3'));
  const before = await refused('per_address');
  await t.throwsAsync(rt.connectSibling(false, '127.0.0.3'));
  t.is((await refused('per_address')) - before, 1);
  t.false((await servedFrom('127.0.0.4')).isClosed);
  held[0]?.close();
  t.false((await servedAgainFrom('127.0.0.3')).isClosed);
  t.true(held.slice(1).every((c) => !c.isClosed));
});
