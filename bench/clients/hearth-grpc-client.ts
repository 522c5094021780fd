// Hearth's gRPC API as a load target: state get and save on a named store (the get key is saved
// first, through the same API), and publish on a named pubsub. Every call is checked: a get that
// finds nothing or the wrong bytes, and a publish that returns no message id, count as errors.
import * as grpc from '@grpc/grpc-js';
import type { BenchClient } from './bench-client.js';
import { loadService, openGrpcClient, unaryMethod, type UnaryCallSpec } from './grpc-unary.js';
import type { HearthGrpcTarget, HearthInvokeTarget, StateOp } from '../load/load-protocol.js';

/** Distinct save keys per store, reused round-robin so the store does not grow. */
export const SAVE_KEYS = 1024;
const STATE_PROTO = 'hearth/runtime/v1/state.proto';
const PUBSUB_PROTO = 'hearth/runtime/v1/pubsub.proto';
const INVOKE_PROTO = 'hearth/runtime/v1/invoke.proto';
const GET_KEY = 'bench-get-grpc';

export function bufferOfLength(value: unknown, bytes: number): string | null {
  if (!Buffer.isBuffer(value)) return 'payload is not bytes';
  return value.length === bytes ? null : `payload of ${value.length} bytes, expected ${bytes}`;
}

function authMetadata(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

export function hearthGrpcSpec(target: HearthGrpcTarget): UnaryCallSpec {
  const metadata = authMetadata(target.token);
  const value = Buffer.alloc(target.payloadBytes, 0x61);
  if (target.op === 'publish') {
    const service = loadService(PUBSUB_PROTO, [target.protoRoot], 'hearth.runtime.v1.PubSub');
    const request = { pubsubName: target.pubsubName, topic: target.topic, data: value, dataContentType: 'application/octet-stream' };
    return {
      method: unaryMethod(service, 'Publish'),
      request: () => request,
      check: (res) => (typeof res.messageId === 'string' && res.messageId.length > 0 ? null : 'publish returned no message id'),
      metadata,
    };
  }
  const service = loadService(STATE_PROTO, [target.protoRoot], 'hearth.runtime.v1.State');
  const { storeName } = target;
  if (target.op === 'get') {
    return {
      method: unaryMethod(service, 'GetState'),
      request: () => ({ storeName, key: GET_KEY }),
      check: (res) => (res.found === true ? bufferOfLength(res.data, target.payloadBytes) : 'key not found'),
      metadata,
    };
  }
  return {
    method: unaryMethod(service, 'SaveState'),
    request: (n) => ({ storeName, states: [{ key: `bench-save-grpc-${n % SAVE_KEYS}`, value }] }),
    check: () => null,
    metadata,
  };
}

/** Saves the key the get rows read, through the same API and store. */
async function seedGetKey(target: HearthGrpcTarget & { op: StateOp }): Promise<void> {
  const save = hearthGrpcSpec({ ...target, op: 'save' });
  const value = Buffer.alloc(target.payloadBytes, 0x61);
  const saver = await openGrpcClient(target.socketPath, 1,
    { ...save, request: () => ({ storeName: target.storeName, states: [{ key: GET_KEY, value }] }) });
  try {
    await new Promise<void>((resolve, reject) => saver.send(0, (err) => (err ? reject(err) : resolve())));
  } finally {
    await saver.close();
  }
}

export async function openHearthGrpcClient(target: HearthGrpcTarget, connections: number): Promise<BenchClient> {
  if (target.op === 'get') await seedGetKey(target);
  return openGrpcClient(target.socketPath, connections, hearthGrpcSpec(target));
}

/**
 * Invoke over gRPC: method `echo` of app `appId` with a 1 KB payload, not idempotent (so neither
 * retried nor hedged: the row measures one delivery); the reply must echo the payload.
 */
export function openGrpcInvokeClient(target: HearthInvokeTarget, connections: number): Promise<BenchClient> {
  const service = loadService(INVOKE_PROTO, [target.protoRoot], 'hearth.runtime.v1.Invoke');
  const request = { appId: target.appId, method: 'echo', data: Buffer.alloc(target.payloadBytes, 0x61) };
  return openGrpcClient(target.socketPath, connections, {
    method: unaryMethod(service, 'InvokeService'),
    request: () => request,
    check: (res) => bufferOfLength(res.data, target.payloadBytes),
    metadata: authMetadata(target.token),
  });
}
