// A worker's peer socket while it drains (an upgrade): another worker that connected a moment
// before must never see a call it wrote lost on a reset connection. A call is either answered or
// provably not processed (sent: false, replayable even when not idempotent) — the difference
// between a retried invocation and a failed one during a hand-off.
import { existsSync } from 'node:fs';
import test from 'ava';
import net from 'node:net';
import { encodeFrame, FrameDecoder, FrameType, isHearthClientError, runtimeMethods, WireConnection, type Frame } from '@hearth/protocol';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

const GET_STATE = 'hearth.runtime.v1.State/GetState';

let rt: InProcess<'wire'>;
test.before(async () => {
  rt = await startInProcess({ transports: ['wire'] });
});
test.after.always(async () => {
  await rt?.close();
});

test.serial('a connection still in the peer socket\'s backlog when it starts to drain is told Goaway: nothing processed, nothing reset', async (t) => {
  const { server, path } = await rt.peer();
  const codec = runtimeMethods().get(GET_STATE)!;
  const request = encodeFrame({ type: FrameType.Request, streamId: 1, header: { method: GET_STATE, caller: 'demo' }, body: codec.serializeRequest({ storeName: 'statestore', key: 'k' }) });
  // connect(2) runs inside createConnection: the connection waits in the listener's backlog,
  // not yet accepted, when the drain begins in the same turn; the Request follows it.
  const socket = net.createConnection({ path });
  t.teardown(() => socket.destroy());
  socket.write(request);
  const closing = server.close(5_000);
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
  const frames: Frame[] = [];
  const error = await new Promise<Error | undefined>((resolve) => {
    socket.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
    socket.once('error', resolve);
    socket.once('close', () => resolve(undefined));
  });
  await closing;
  t.is(error, undefined, `the connection was reset: ${error?.message ?? ''}`);
  const goaway = frames.find((f) => f.type === FrameType.Goaway);
  t.truthy(goaway, `frames: ${frames.map((f) => f.type).join(', ')}`);
  t.is(goaway?.streamId, 0, 'no stream accepted: the Request may be replayed anywhere');
  t.is(goaway?.header.errorCode, 'HEARTH_ERR_DRAINING');
  t.false(frames.some((f) => f.type === FrameType.Response), 'the Request was not processed');
  // Nobody can connect once it drains: the socket file is gone, a connect is refused (not sent).
  t.false(existsSync(path));
  const late = await WireConnection.connect({ endpoint: { path } }).catch((err: unknown) => err);
  t.true(isHearthClientError(late) && !late.sent, String(late));
});
