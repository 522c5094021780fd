// Entry of a forked callee app for the invoke rows (issue #5): app B without a port of its own. It
// connects to its agent's socket, opens the AppCallback stream (`register`, then one `result` per
// `invocation`, echoing the data), answers `listening` once the agent says `registered`, and
// closes when the parent disconnects. Over the wire transport it uses the bare frame codec
// (clients/wire-link.ts); over gRPC, a grpc-js bidirectional stream on grpc.sock.
import * as grpc from '@grpc/grpc-js';
import { runtimeMethods } from '@hearth/protocol';
import { WireLink } from '../clients/wire-link.js';

export interface CalleeStart {
  type: 'start';
  transport: 'wire' | 'grpc';
  socketPath: string;
  token: string;
}

export type CalleeReply = { type: 'listening' } | { type: 'failed'; error: string };

const CONNECT = 'hearth.runtime.v1.AppCallback/Connect';
/**
 * Invocations the agent may push at once. High on purpose: at 1,000 req/s a 256 ms stall of the
 * shared machine fills 256 slots, and the agent then refuses calls (RESOURCE_EXHAUSTED) instead of
 * queueing them — a protection worth having, but the row measures latency, and refused calls would
 * drop out of its histogram.
 */
const MAX_CONCURRENCY = 4096;

type ToApp = { message?: string; invocation?: { id: string; data: Buffer; contentType: string } };

function isStart(value: unknown): value is CalleeStart {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.type === 'start' && (v.transport === 'wire' || v.transport === 'grpc') && typeof v.socketPath === 'string'
    && typeof v.token === 'string';
}

function reply(message: CalleeReply): void {
  if (process.connected) process.send?.(message, undefined, undefined, () => undefined);
}

const codec = runtimeMethods().get(CONNECT);
if (codec === undefined) throw new Error(`${CONNECT} missing from proto/`);
const register = { register: { methods: [], maxConcurrency: MAX_CONCURRENCY } };
const result = (inv: NonNullable<ToApp['invocation']>): object => ({ result: { id: inv.id, data: inv.data, contentType: inv.contentType } });

let close: () => void = () => undefined;
let listening = false;

function onToApp(message: ToApp, answer: (fromApp: object) => void): void {
  if (message.message === 'registered' && !listening) {
    listening = true;
    reply({ type: 'listening' });
  } else if (message.invocation !== undefined) answer(result(message.invocation));
}

function onEnd(error: Error | null): void {
  reply({ type: 'failed', error: `callback stream ended${listening ? ' after registering' : ''}: ${error?.message ?? 'by the agent'}` });
  if (process.connected) process.disconnect();
}

async function startWire(start: CalleeStart): Promise<void> {
  const link = await WireLink.connect(start.socketPath);
  close = () => link.close();
  const c = codec as NonNullable<typeof codec>;
  const stream = link.openStream({ method: CONNECT, token: start.token }, c.serializeRequest(register), {
    onMessage: (body) => onToApp(c.deserializeResponse(body) as ToApp, (fromApp) => link.sendMessage(stream, c.serializeRequest(fromApp))),
    onEnd,
  });
}

function startGrpc(start: CalleeStart): void {
  const c = codec as NonNullable<typeof codec>;
  const client = new grpc.Client(`unix:${start.socketPath}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${start.token}`);
  const call = client.makeBidiStreamRequest(`/${CONNECT}`, (value: object) => c.serializeRequest(value),
    (bytes: Buffer) => c.deserializeResponse(bytes) as ToApp, metadata);
  close = () => {
    call.cancel();
    client.close();
  };
  call.on('data', (message: ToApp) => onToApp(message, (fromApp) => call.write(fromApp)));
  call.on('error', (err: Error) => onEnd(err));
  call.on('end', () => onEnd(null));
  call.write(register);
}

process.once('message', (message: unknown) => {
  if (!isStart(message)) {
    reply({ type: 'failed', error: 'expected a start message' });
    process.disconnect();
    return;
  }
  (message.transport === 'wire' ? startWire(message) : Promise.resolve(startGrpc(message))).catch((err: unknown) => {
    reply({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.disconnect();
  });
});

process.on('disconnect', () => close());
