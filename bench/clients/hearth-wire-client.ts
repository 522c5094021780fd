// Hearth's wire transport as a load target (wire-link.ts on wire.sock, N connections used
// round-robin): a state get or save on a named store (the get key is saved first, through the same
// transport), or an invocation of another app. Bodies are the proto/ messages, (de)serialised with
// the codecs the agent itself uses (sdk/proto/proto-root.ts). Every reply is checked: a get that
// finds nothing or the wrong bytes, or an invocation that does not echo its payload, is an error.
import { type MethodCodec, runtimeMethods, type WireHeader } from '@hearth/protocol';
import { inBatches, once, type BenchClient, type Done } from './bench-client.js';
import { bufferOfLength, SAVE_KEYS } from './hearth-grpc-client.js';
import { WireLink } from './wire-link.js';
import type { HearthInvokeTarget, HearthWireTarget } from '../load/load-protocol.js';

const GET_KEY = 'bench-get-wire';
/** The method the callee apps serve (any name: they echo whatever they get). */
export const ECHO_METHOD = 'echo';

function codec(method: string): MethodCodec {
  const found = runtimeMethods().get(method);
  if (found === undefined) throw new Error(`${method} is not a method of hearth.runtime.v1`);
  return found;
}

/** One request kind on the wire: method, the n-th body, and the check of a reply body. */
interface WireCallSpec {
  header: WireHeader;
  body: (n: number) => Buffer;
  check: (reply: Buffer) => string | null;
}

type Reply = Record<string, unknown>;

function stateSpec(target: HearthWireTarget): WireCallSpec {
  const value = Buffer.alloc(target.payloadBytes, 0x61);
  const { storeName } = target;
  if (target.op === 'get') {
    const get = codec('hearth.runtime.v1.State/GetState');
    const body = get.serializeRequest({ storeName, key: GET_KEY });
    return {
      header: { method: get.path, token: target.token },
      body: () => body,
      check: (reply) => {
        const res = get.deserializeResponse(reply) as Reply;
        return res.found === true ? bufferOfLength(res.data, target.payloadBytes) : 'key not found';
      },
    };
  }
  const save = codec('hearth.runtime.v1.State/SaveState');
  // Pre-encoded per key: the generator's cost stays out of the row.
  const bodies = Array.from({ length: SAVE_KEYS }, (_, i) => save.serializeRequest({ storeName, states: [{ key: `bench-save-wire-${i}`, value }] }));
  return {
    header: { method: save.path, token: target.token },
    body: (n) => bodies[n % SAVE_KEYS] as Buffer,
    check: () => null,
  };
}

function invokeSpec(target: HearthInvokeTarget): WireCallSpec {
  const invoke = codec('hearth.runtime.v1.Invoke/InvokeService');
  const body = invoke.serializeRequest({ appId: target.appId, method: ECHO_METHOD, data: Buffer.alloc(target.payloadBytes, 0x61) });
  return {
    header: { method: invoke.path, token: target.token },
    body: () => body,
    check: (reply) => bufferOfLength((invoke.deserializeResponse(reply) as Reply).data, target.payloadBytes),
  };
}

async function openLinks(socketPath: string, connections: number): Promise<WireLink[]> {
  const links: WireLink[] = [];
  try {
    await inBatches(connections, 50, async (i) => {
      links[i] = await WireLink.connect(socketPath);
    });
  } catch (err) {
    for (const link of links) link?.close();
    throw err;
  }
  return links;
}

function call(link: WireLink, spec: WireCallSpec, n: number, done: Done): void {
  const finish = once(done);
  link.unary(spec.header, spec.body(n), (error, reply) => {
    if (error !== null || reply === null) finish(error ?? new Error('empty reply'));
    else {
      let problem: string | null;
      try {
        problem = spec.check(reply);
      } catch (err) {
        problem = `undecodable reply: ${err instanceof Error ? err.message : String(err)}`;
      }
      finish(problem === null ? null : new Error(problem));
    }
  });
}

function asClient(links: WireLink[], spec: WireCallSpec): BenchClient {
  let n = 0;
  return {
    connections: links.length,
    send(connection, done) {
      const link = links[connection % links.length];
      if (link === undefined) done(new Error(`no connection ${connection}`));
      else call(link, spec, n++, done);
    },
    async close() {
      for (const link of links) link.close();
    },
  };
}

export async function openHearthWireClient(target: HearthWireTarget, connections: number): Promise<BenchClient> {
  const links = await openLinks(target.socketPath, connections);
  try {
    if (target.op === 'get') {
      const save = stateSpec({ ...target, op: 'save' });
      const seed = codec('hearth.runtime.v1.State/SaveState').serializeRequest({
        storeName: target.storeName, states: [{ key: GET_KEY, value: Buffer.alloc(target.payloadBytes, 0x61) }],
      });
      const first = links[0] as WireLink;
      await new Promise<void>((resolve, reject) => call(first, { ...save, body: () => seed }, 0, (err) => (err ? reject(err) : resolve())));
    }
  } catch (err) {
    for (const link of links) link.close();
    throw err;
  }
  return asClient(links, stateSpec(target));
}

export async function openWireInvokeClient(target: HearthInvokeTarget, connections: number): Promise<BenchClient> {
  return asClient(await openLinks(target.socketPath, connections), invokeSpec(target));
}
