// The frame codec against bytes built by hand from docs/wire-protocol.md (its Example section
// shows these very bytes), so the spec, the codec and a client in another language agree.
import test from 'ava';
import { encodeFrame, FrameDecoder, FrameType, runtimeMethods, WireProtocolError } from '@hearth/protocol';

const METHOD = 'hearth.runtime.v1.State/GetState';

/** The Example of docs/wire-protocol.md, byte for byte. */
function exampleBytes(): Buffer {
  const ascii = (s: string): number[] => [...Buffer.from(s, 'ascii')];
  const header = [0x0a, 0x20, ...ascii(METHOD), 0x2a, 0x09, ...ascii('t0ken-123')];
  const body = [0x0a, 0x07, ...ascii('default'), 0x12, 0x01, ...ascii('k')];
  return Buffer.from([
    ...[0x00, 0x00, 0x00, 0x45], // length 69 = 12 + 45 + 12
    ...[0x01, 0x01, 0x00, 0x00], // version 1, type Request, flags 0
    ...[0x00, 0x00, 0x00, 0x01], // stream 1
    ...[0x00, 0x00, 0x00, 0x2d], // header length 45
    ...header,
    ...body,
  ]);
}

test('a GetState Request encodes to the bytes the spec shows', (t) => {
  const codec = runtimeMethods().get(METHOD);
  t.truthy(codec);
  const body = codec!.serializeRequest({ storeName: 'default', key: 'k' });
  const bytes = encodeFrame({ type: FrameType.Request, streamId: 1, header: { method: METHOD, token: 't0ken-123' }, body });
  t.deepEqual([...bytes], [...exampleBytes()]);
});

test('the spec example decodes to its header and request, fed one byte at a time', (t) => {
  const decoder = new FrameDecoder({ maxFrameBytes: 1024 });
  const bytes = exampleBytes();
  const frames = [];
  for (const b of bytes) frames.push(...decoder.push(Buffer.from([b])));
  t.is(frames.length, 1);
  t.is(decoder.pending, 0);
  const f = frames[0]!;
  t.is(f.type, FrameType.Request);
  t.is(f.streamId, 1);
  t.is(f.header.method, METHOD);
  t.is(f.header.token, 't0ken-123');
  t.like(runtimeMethods().get(METHOD)!.deserializeRequest(f.body), { storeName: 'default', key: 'k' });
});

test('a Pong with the DRAINING flag, no header and a 2-byte body is 18 bytes', (t) => {
  const bytes = encodeFrame({ type: FrameType.Pong, streamId: 0, flags: 1, body: Buffer.from('ab') });
  t.deepEqual([...bytes], [0, 0, 0, 14, 1, 6, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x61, 0x62]);
});

test('bad preludes are protocol errors with the codes the spec names', (t) => {
  const bad = (bytes: number[]): string => {
    const err = t.throws(() => new FrameDecoder({ maxFrameBytes: 100 }).push(Buffer.from(bytes)), { instanceOf: WireProtocolError });
    return err.code;
  };
  t.is(bad([0, 0, 0, 12, 2, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), 'HEARTH_ERR_MALFORMED_FRAME'); // version 2
  t.is(bad([0, 0, 0, 12, 1, 9, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), 'HEARTH_ERR_MALFORMED_FRAME'); // type 9
  t.is(bad([0, 0, 0, 11]), 'HEARTH_ERR_MALFORMED_FRAME'); // length below the prelude
  t.is(bad([0, 0, 0, 12, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]), 'HEARTH_ERR_MALFORMED_FRAME'); // header overruns
  t.is(bad([0, 0, 0, 101]), 'HEARTH_ERR_BODY_TOO_LARGE');
});
