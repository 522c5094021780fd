// WireConnection on its own, against a scripted frame peer on a real Unix socket (and a real TLS
// server): multiplexing, streams, ping/Pong, Goaway, deadlines and the coded errors with the
// `sent` flag that failover relies on.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { type HearthClientError, isHearthClientError, WireTransport } from '@hearth/sdk';
import { encodeFrame, type Frame, FrameType, PONG_DRAINING, runtimeMethods, WireConnection } from '@hearth/protocol';
import { makeTlsFiles } from '../support/tls-certs.js';
import { FramePeerServer, type PeerConnection } from './frame-server.js';
import { waitFor } from '../support/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'hw-'));
const servers: FramePeerServer[] = [];
const connections: WireConnection[] = [];
let seq = 0;

test.after.always(async () => {
  for (const c of connections) c.destroy();
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function serve(handler?: (frame: Frame, peer: PeerConnection) => void): Promise<{ server: FramePeerServer; path: string }> {
  seq += 1;
  const socketPath = path.join(dir, `s${seq}.sock`);
  const server = await FramePeerServer.unix(socketPath, handler);
  servers.push(server);
  return { server, path: socketPath };
}

async function connect(socketPath: string): Promise<WireConnection> {
  const c = await WireConnection.connect({ endpoint: { path: socketPath } });
  connections.push(c);
  return c;
}

function answer(peer: PeerConnection, frame: Frame, body: string): void {
  peer.send({ type: FrameType.Response, streamId: frame.streamId, header: { requestId: `r${frame.streamId}` }, body: Buffer.from(body) });
}

async function rejection(t: { fail(m: string): void }, p: Promise<unknown>): Promise<HearthClientError> {
  try {
    await p;
  } catch (err) {
    if (isHearthClientError(err)) return err;
    throw err;
  }
  t.fail('expected a rejection');
  throw new Error('unreachable');
}

test('unary calls are multiplexed and each gets its own response when the server answers out of order', async (t) => {
  const held: Array<{ frame: Frame; peer: PeerConnection }> = [];
  const { path: p } = await serve((frame, peer) => {
    if (frame.type !== FrameType.Request) return;
    held.push({ frame, peer });
    if (held.length === 3) for (const h of held.reverse()) answer(h.peer, h.frame, `answer:${h.frame.body.toString()}`);
  });
  const c = await connect(p);
  const replies = await Promise.all(['a', 'b', 'c'].map((x) => c.unary({ method: `M/${x}` }, Buffer.from(x))));
  t.deepEqual(replies.map((r) => r.body.toString()), ['answer:a', 'answer:b', 'answer:c']);
  t.deepEqual(new Set(held.map((h) => h.frame.streamId)).size, 3);
  t.is(c.inFlight, 0);
});

test('every request header field reaches the server', async (t) => {
  const { server, path: p } = await serve((frame, peer) => answer(peer, frame, 'ok'));
  const c = await connect(p);
  await c.unary(
    { method: 'hearth.runtime.v1.State/GetState', token: 'tok', caller: 'app-a', deadlineMs: 5_000, traceparent: '00-abc-def-01', requestId: 'req-1', idempotent: true, attempt: 2, metadata: { k: 'v' } },
    Buffer.from('body'),
  );
  const frame = (await server.peer(0)).frames[0] as Frame;
  t.is(frame.type, FrameType.Request);
  t.is(frame.header.method, 'hearth.runtime.v1.State/GetState');
  t.is(frame.header.token, 'tok');
  t.is(frame.header.caller, 'app-a');
  t.is(frame.header.deadlineMs, 5_000);
  t.is(frame.header.traceparent, '00-abc-def-01');
  t.is(frame.header.requestId, 'req-1');
  t.is(frame.header.idempotent, true);
  t.is(frame.header.attempt, 2);
  t.deepEqual(frame.header.metadata, { k: 'v' });
  t.is(frame.body.toString(), 'body');
});

test('an error Response rejects with its code, message and detail.* entries as details, sent true', async (t) => {
  const { path: p } = await serve((frame, peer) =>
    peer.send({
      type: FrameType.Response,
      streamId: frame.streamId,
      header: { errorCode: 'HEARTH_ERR_STORE_NOT_FOUND', errorMessage: 'no store nope', metadata: { 'detail.store': 'nope', other: 'x' } },
    }),
  );
  const c = await connect(p);
  const err = await rejection(t, c.unary({ method: 'M' }, Buffer.alloc(0)));
  t.is(err.code, 'HEARTH_ERR_STORE_NOT_FOUND');
  t.is(err.message, 'no store nope');
  t.deepEqual(err.details, { store: 'nope' });
  t.true(err.sent);
  t.true(c.acceptingCalls, 'an error Response leaves the connection usable');
});

test('Goaway: streams above lastStreamId fail as not sent, accepted ones complete, new calls are refused, then the connection closes', async (t) => {
  const requests: Array<{ frame: Frame; peer: PeerConnection }> = [];
  const { path: p } = await serve((frame, peer) => {
    if (frame.type === FrameType.Request) requests.push({ frame, peer });
  });
  const c = await connect(p);
  const goaways: string[] = [];
  c.on('goaway', (g) => goaways.push(`${g.code}@${g.lastStreamId}`));
  const calls = [1, 2, 3].map((i) => c.unary({ method: `M/${i}` }, Buffer.alloc(0)));
  for (const call of calls) call.catch(() => undefined);
  const first = await waitForRequests(requests, 3);
  const peer = first[0]?.peer as PeerConnection;
  peer.send({ type: FrameType.Goaway, streamId: 1, header: { errorCode: 'HEARTH_ERR_DRAINING', errorMessage: 'draining' } });
  for (const i of [1, 2]) {
    const err = await rejection(t, calls[i] as Promise<unknown>);
    t.is(err.code, 'HEARTH_ERR_AGENT_UNAVAILABLE');
    t.false(err.sent, 'a stream the server did not accept was not processed');
  }
  t.false(c.acceptingCalls);
  t.true(c.draining);
  const refused = await rejection(t, c.unary({ method: 'M/4' }, Buffer.alloc(0)));
  t.is(refused.code, 'HEARTH_ERR_AGENT_UNAVAILABLE');
  t.false(refused.sent);
  answer(peer, (first[0] as { frame: Frame }).frame, 'done');
  t.is((await (calls[0] as Promise<{ body: Buffer }>)).body.toString(), 'done');
  t.deepEqual(goaways, ['HEARTH_ERR_DRAINING@1']);
  await new Promise<void>((resolve) => (c.closed ? resolve() : c.once('close', () => resolve())));
  t.true(c.closed, 'the client ends the connection once the accepted calls are answered');
});

test('ping measures a round trip and reports the Pong DRAINING flag', async (t) => {
  let draining = false;
  const { path: p } = await serve((frame, peer) => {
    if (frame.type === FrameType.Ping) peer.send({ type: FrameType.Pong, streamId: 0, flags: draining ? PONG_DRAINING : 0, body: frame.body });
  });
  const c = await connect(p);
  const first = await c.ping(5_000);
  t.false(first.draining);
  t.true(first.rttMs >= 0);
  t.false(c.draining);
  draining = true;
  const drainingSeen = new Promise<void>((resolve) => c.once('draining', () => resolve()));
  t.true((await c.ping(5_000)).draining);
  await drainingSeen;
  t.true(c.draining);
});

test('the client answers a server Ping with a Pong carrying the same body', async (t) => {
  const { server, path: p } = await serve();
  const c = await connect(p);
  const peer = await server.peer(0);
  peer.send({ type: FrameType.Ping, streamId: 0, body: Buffer.from('abc') });
  const pong = await peer.frame('a Pong', (f) => f.type === FrameType.Pong);
  t.is(pong.body.toString(), 'abc');
  t.true(c.acceptingCalls);
});

test('a connection the server closes mid-call fails the call as AGENT_UNAVAILABLE, sent true', async (t) => {
  const { path: p } = await serve((frame, peer) => {
    if (frame.type === FrameType.Request) peer.socket.destroy();
  });
  const c = await connect(p);
  const err = await rejection(t, c.unary({ method: 'M' }, Buffer.alloc(0)));
  t.is(err.code, 'HEARTH_ERR_AGENT_UNAVAILABLE');
  t.true(err.sent);
});

test('a response truncated by the server closing fails the call as AGENT_UNAVAILABLE, sent true', async (t) => {
  const { path: p } = await serve((frame, peer) => {
    if (frame.type !== FrameType.Request) return;
    const whole = encodeFrame({ type: FrameType.Response, streamId: frame.streamId, body: Buffer.alloc(100, 1) });
    peer.socket.end(whole.subarray(0, 40));
  });
  const c = await connect(p);
  const err = await rejection(t, c.unary({ method: 'M' }, Buffer.alloc(0)));
  t.is(err.code, 'HEARTH_ERR_AGENT_UNAVAILABLE');
  t.true(err.sent);
  t.regex(err.message, /middle of a frame/);
});

test('a malformed frame from the server closes the connection and fails open calls, sent true', async (t) => {
  const { path: p } = await serve((frame, peer) => {
    if (frame.type !== FrameType.Request) return;
    const bad = encodeFrame({ type: FrameType.Response, streamId: frame.streamId });
    bad.writeUInt8(9, 4); // version 9
    peer.socket.write(bad);
  });
  const c = await connect(p);
  const err = await rejection(t, c.unary({ method: 'M' }, Buffer.alloc(0)));
  t.is(err.code, 'HEARTH_ERR_AGENT_UNAVAILABLE');
  t.true(err.sent);
  t.regex(err.message, /version 9/);
});

test('connecting to a missing socket or a socket nobody listens on fails as AGENT_UNAVAILABLE, sent false', async (t) => {
  const missing = await rejection(t, WireConnection.connect({ endpoint: { path: path.join(dir, 'missing.sock') } }));
  t.is(missing.code, 'HEARTH_ERR_AGENT_UNAVAILABLE');
  t.false(missing.sent);
  // A file where the socket should be (a listener that died without unlinking): connect is refused.
  const stale = path.join(dir, 'stale.sock');
  writeFileSync(stale, '');
  const refused = await rejection(t, WireConnection.connect({ endpoint: { path: stale } }));
  t.is(refused.code, 'HEARTH_ERR_AGENT_UNAVAILABLE');
  t.false(refused.sent);
});

test('a deadline the server does not answer within fails with TIMEOUT and cancels the stream on the server', async (t) => {
  const { server, path: p } = await serve();
  const c = await connect(p);
  const err = await rejection(t, c.unary({ method: 'M', deadlineMs: 50 }, Buffer.alloc(0)));
  t.is(err.code, 'HEARTH_ERR_TIMEOUT');
  t.true(err.sent);
  const peer = await server.peer(0);
  const cancel = await peer.frame('a Cancel', (f) => f.type === FrameType.Cancel);
  t.is(cancel.streamId, (peer.frames[0] as Frame).streamId);
  t.is(c.inFlight, 0);
});

test('aborting the signal cancels the call with HEARTH_ERR_CANCELLED and sends Cancel', async (t) => {
  const { server, path: p } = await serve();
  const c = await connect(p);
  const controller = new AbortController();
  const call = c.unary({ method: 'M' }, Buffer.alloc(0), { signal: controller.signal });
  const peer = await server.peer(0);
  await peer.frame('the Request', (f) => f.type === FrameType.Request);
  controller.abort();
  const err = await rejection(t, call);
  t.is(err.code, 'HEARTH_ERR_CANCELLED');
  await peer.frame('a Cancel', (f) => f.type === FrameType.Cancel);
  const early = await rejection(t, c.unary({ method: 'M' }, Buffer.alloc(0), { signal: controller.signal }));
  t.is(early.code, 'HEARTH_ERR_CANCELLED');
  t.false(early.sent, 'an already aborted call is never written');
});

test('a request larger than the frame limit fails alone with BODY_TOO_LARGE, not sent, and the connection stays usable', async (t) => {
  const { path: p } = await serve((frame, peer) => answer(peer, frame, 'ok'));
  const c = await WireConnection.connect({ endpoint: { path: p }, maxFrameBytes: 1024 });
  connections.push(c);
  const err = await rejection(t, c.unary({ method: 'M' }, Buffer.alloc(4096)));
  t.is(err.code, 'HEARTH_ERR_BODY_TOO_LARGE');
  t.false(err.sent);
  t.is((await c.unary({ method: 'M' }, Buffer.from('small'))).body.toString(), 'ok');
});

test('a stream carries messages both ways, half-closes with End and finishes with the Response', async (t) => {
  const { server, path: p } = await serve((frame, peer) => {
    if (frame.type === FrameType.Request) {
      peer.send({ type: FrameType.Message, streamId: frame.streamId, body: Buffer.from('m1') });
      peer.send({ type: FrameType.Message, streamId: frame.streamId, body: Buffer.from('m2') });
    }
    if (frame.type === FrameType.Message) peer.send({ type: FrameType.Message, streamId: frame.streamId, body: Buffer.from(`echo:${frame.body.toString()}`) });
    if (frame.type === FrameType.End) peer.send({ type: FrameType.Response, streamId: frame.streamId });
  });
  const c = await connect(p);
  const call = c.openStream({ method: 'S' }, Buffer.from('first'));
  const got: string[] = [];
  for await (const body of call) {
    got.push(body.toString());
    if (got.length === 2) call.send(Buffer.from('x'));
    if (got.length === 3) call.end();
  }
  await call.done;
  t.deepEqual(got, ['m1', 'm2', 'echo:x']);
  const peer = await server.peer(0);
  t.is((peer.frames[0] as Frame).body.toString(), 'first');
});

test('cancelling a stream ends its iteration, resolves done and sends Cancel', async (t) => {
  const { server, path: p } = await serve((frame, peer) => {
    if (frame.type === FrameType.Request) peer.send({ type: FrameType.Message, streamId: frame.streamId, body: Buffer.from('m1') });
  });
  const c = await connect(p);
  const call = c.openStream({ method: 'S' }, Buffer.alloc(0));
  const got: string[] = [];
  for await (const body of call) {
    got.push(body.toString());
    call.cancel();
  }
  await call.done;
  t.deepEqual(got, ['m1']);
  await (await server.peer(0)).frame('a Cancel', (f) => f.type === FrameType.Cancel);
});

test('a stream ended by an error Response throws from iteration and rejects done with the code', async (t) => {
  const { path: p } = await serve((frame, peer) => {
    if (frame.type !== FrameType.Request) return;
    peer.send({ type: FrameType.Message, streamId: frame.streamId, body: Buffer.from('m1') });
    peer.send({ type: FrameType.Response, streamId: frame.streamId, header: { errorCode: 'HEARTH_ERR_SUBSCRIPTION_CLOSED', errorMessage: 'drained' } });
  });
  const c = await connect(p);
  const call = c.openStream({ method: 'S' }, Buffer.alloc(0));
  const got: string[] = [];
  const err = await rejection(t, (async () => {
    for await (const body of call) got.push(body.toString());
  })());
  t.deepEqual(got, ['m1']);
  t.is(err.code, 'HEARTH_ERR_SUBSCRIPTION_CLOSED');
  t.is((await rejection(t, call.done)).code, 'HEARTH_ERR_SUBSCRIPTION_CLOSED');
});

test('close() lets open calls finish, refuses new ones, then closes', async (t) => {
  const held: Array<{ frame: Frame; peer: PeerConnection }> = [];
  const { path: p } = await serve((frame, peer) => {
    if (frame.type === FrameType.Request) held.push({ frame, peer });
  });
  const c = await connect(p);
  const call = c.unary({ method: 'M' }, Buffer.alloc(0));
  await waitForRequests(held, 1);
  const closing = c.close(10_000);
  const refused = await rejection(t, c.unary({ method: 'M' }, Buffer.alloc(0)));
  t.false(refused.sent);
  const h = held[0] as { frame: Frame; peer: PeerConnection };
  answer(h.peer, h.frame, 'late');
  t.is((await call).body.toString(), 'late');
  await closing;
  t.true(c.closed);
});

test('WireTransport re-sends a call the agent refused by Goaway on a fresh connection', async (t) => {
  const method = 'hearth.runtime.v1.Sequencer/GetNextId';
  const codec = runtimeMethods().get(method);
  if (!codec) throw new Error('no codec');
  const { server, path: p } = await serve((frame, peer) => {
    if (frame.type !== FrameType.Request) return;
    if (server.peers.indexOf(peer) === 0) {
      peer.send({ type: FrameType.Goaway, streamId: 0, header: { errorCode: 'HEARTH_ERR_DRAINING' } });
    } else {
      peer.send({ type: FrameType.Response, streamId: frame.streamId, body: codec.serializeResponse({ nextId: '42' }) });
    }
  });
  const transport = new WireTransport({ endpoint: { path: p }, token: 'tok' });
  const goaways: string[] = [];
  transport.on('goaway', (g) => goaways.push(g.code));
  const res = (await transport.unary(method, { storeName: 'default', key: 'k' }, {})) as { nextId: string };
  t.is(res.nextId, '42');
  t.deepEqual(goaways, ['HEARTH_ERR_DRAINING']);
  t.is(server.peers.length, 2);
  const retried = (server.peers[1] as PeerConnection).frames[0] as Frame;
  t.is(retried.header.token, 'tok');
  t.is(retried.header.attempt, 1);
  await transport.close();
});

test('TCP+TLS: a call succeeds against a server whose certificate the CA signs, and an unknown CA is refused before sending', async (t) => {
  const tlsDir = path.join(dir, 'tls');
  mkdirSync(tlsDir);
  const files = await makeTlsFiles(tlsDir);
  const server = await FramePeerServer.tls({ cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) }, (frame, peer) => answer(peer, frame, 'tls-ok'));
  servers.push(server);
  const c = await WireConnection.connect({ endpoint: { host: '127.0.0.1', port: server.port, tls: { ca: readFileSync(files.caFile), servername: 'localhost' } } });
  connections.push(c);
  t.is((await c.unary({ method: 'M' }, Buffer.alloc(0))).body.toString(), 'tls-ok');
  const otherDir = path.join(dir, 'tls2');
  mkdirSync(otherDir);
  const other = await makeTlsFiles(otherDir);
  const err = await rejection(t, WireConnection.connect({ endpoint: { host: '127.0.0.1', port: server.port, tls: { ca: readFileSync(other.caFile), servername: 'localhost' } } }));
  t.is(err.code, 'HEARTH_ERR_AGENT_UNAVAILABLE');
  t.false(err.sent);
});

function waitForRequests<T>(list: T[], n: number): Promise<T[]> {
  return waitFor(`${n} requests (${list.length} so far)`, () => list.length >= n && list, { timeoutMs: 10_000, everyMs: 5 });
}
