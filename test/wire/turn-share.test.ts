// One app's share of an event-loop turn on the wire transport (agent/transports/wire/turn-share.ts):
// an app that pipelines thousands of Requests over many connections gets at most its share of
// frames handled per turn, whatever its number of connections; the rest are handled, in order,
// on later turns, and another app's call is answered in between. Counted, not timed: the calls
// the agent starts between two turns of this (same) process's event loop.
import test from 'ava';
import { encodeFrame, FrameType, runtimeMethods } from '@hearth/protocol';

import { startInProcess, type InProcess } from '../helpers/in-process.js';

const HOSTILE_TOKEN = 'hostile-token-0123456789abcdef';
const GET = 'hearth.runtime.v1.State/GetState';
const CONNECTIONS = 32;
const PER_CONNECTION = 400;
/** FRAMES_PER_APP_TURN in wire-app-server.ts; per connection it is 64, so 32 connections could do 2,048. */
const APP_SHARE = 256;

let rt: InProcess<'wire'>;
test.before(async () => {
  rt = await startInProcess({ transports: ['wire'], apps: [{ id: 'hostile', token: HOSTILE_TOKEN }] });
});
test.after.always(async () => {
  await rt?.close();
});

test('an app pipelining over 32 connections is handled at most its share of frames per turn; another app is answered meanwhile', async (t) => {
  const hostile = rt.byId.hostile;
  if (hostile === undefined) throw new Error('app hostile not started');
  const codec = runtimeMethods().get(GET);
  if (codec === undefined) throw new Error(`no ${GET}`);

  // Calls started per turn of this process's event loop (the agent runs in it).
  const state = rt.api.state as unknown as { get: (...args: unknown[]) => Promise<unknown> };
  const original = state.get;
  let inTurn = { hostile: 0, demo: 0 };
  const turns: { hostile: number; demo: number }[] = [];
  state.get = (...args: unknown[]) => {
    const app = (args[0] as { app: { id: string } }).app.id;
    if (app === 'hostile') inTurn.hostile += 1;
    else inTurn.demo += 1;
    return original(...args);
  };
  let ticking = true;
  const tick = (): void => {
    if (inTurn.hostile + inTurn.demo > 0) turns.push(inTurn);
    inTurn = { hostile: 0, demo: 0 };
    if (ticking) setImmediate(tick);
  };
  t.teardown(() => {
    ticking = false;
    state.get = original;
  });

  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => rt.connect(hostile.wire.socket)));
  const quiet = await rt.connect(rt.demo.wire.socket);
  setImmediate(tick);
  // Every connection's Requests in one write: the agent reads them in one go.
  for (const c of clients) {
    const frames = Array.from({ length: PER_CONNECTION }, (_, i) =>
      encodeFrame({ type: FrameType.Request, streamId: 2 * i + 1, header: { method: GET, token: HOSTILE_TOKEN }, body: codec.serializeRequest({ storeName: 'statestore', key: `k${i}` }) }));
    c.sendRaw(Buffer.concat(frames));
  }
  const q = await quiet.call(GET, { storeName: 'statestore', key: 'quiet' }, { token: rt.demo.token });
  t.is(q.code, undefined, `${q.code ?? ''} ${q.header.errorMessage ?? ''}`);

  const answers = await Promise.all(clients.map(async (c) => {
    let ok = 0;
    for (let i = 0; i < PER_CONNECTION; i++) if ((await c.answer(2 * i + 1, GET)).code === undefined) ok += 1;
    return ok;
  }));
  ticking = false;
  t.is(answers.reduce((a, b) => a + b, 0), CONNECTIONS * PER_CONNECTION, 'every pipelined call is answered OK');

  const most = Math.max(...turns.map((x) => x.hostile));
  t.log(`${turns.length} turns with calls; at most ${most} of the hostile app's in one`);
  // This ticker runs first in each check phase (it was queued in the previous one), before the
  // share's reset and the sessions' deferred frames: each window holds one share at most.
  t.true(most <= APP_SHARE, `${most} calls of one app in one turn`);
  t.true(turns.length >= (CONNECTIONS * PER_CONNECTION) / APP_SHARE, 'the calls were spread over many turns');
  // The quiet app's call was started before the hostile app's last calls were.
  const quietTurn = turns.findIndex((x) => x.demo > 0);
  const lastHostile = turns.map((x) => x.hostile > 0).lastIndexOf(true);
  t.true(quietTurn >= 0 && quietTurn < lastHostile, `quiet call in turn ${quietTurn}, the hostile app's last in turn ${lastHostile}`);
});
