// Builds the client for a target: the one place that knows each target's requests and checks.
import http from 'node:http';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { BenchClient } from './bench-client.js';
import { loadService, openGrpcClient, unaryMethod, type ProtoObject, type UnaryCallSpec } from './grpc-unary.js';
import { bufferOfLength, openGrpcInvokeClient, openHearthGrpcClient, SAVE_KEYS } from './hearth-grpc-client.js';
import { openHearthWireClient, openWireInvokeClient } from './hearth-wire-client.js';
import { httpRequest, openHttpClient, type HttpRequestSpec } from './http-client.js';
import { openKafkaDirectClient } from './kafka-direct-client.js';
import { openRawEchoClient } from './raw-echo-client.js';
import { openRedisDirectClient } from './redis-direct-client.js';
import type { HearthInvokeTarget, StateOp, TargetSpec } from '../load/load-protocol.js';

function grpcEchoSpec(protoPath: string, payloadBytes: number): UnaryCallSpec {
  const service = loadService(path.basename(protoPath), [path.dirname(protoPath)], 'hearth.bench.v1.Echo');
  const payload = Buffer.alloc(payloadBytes, 0x61);
  return {
    method: unaryMethod(service, 'Echo'),
    request: () => ({ payload }),
    check: (res: ProtoObject) => bufferOfLength(res.payload, payloadBytes),
    metadata: new grpc.Metadata(),
  };
}

function hearthHttpSpec(op: StateOp, token: string, payloadBytes: number): HttpRequestSpec {
  const headers = { authorization: `Bearer ${token}` };
  const value = JSON.stringify('a'.repeat(payloadBytes));
  if (op === 'get') {
    return {
      method: 'GET',
      path: () => '/v1.0/state/default/bench-get-http',
      headers,
      body: () => null,
      check: (status, bytes) => (status !== 200 ? `HTTP ${status}` : bytes < payloadBytes ? `body of ${bytes} bytes` : null),
    };
  }
  return {
    method: 'POST',
    path: () => '/v1.0/state/default',
    headers: { ...headers, 'content-type': 'application/json' },
    body: (n) => `[{"key":"bench-save-http-${n % SAVE_KEYS}","value":${value}}]`,
    check: (status) => (status >= 200 && status < 300 ? null : `HTTP ${status}`),
  };
}

function httpInvokeSpec(appId: string, token: string, payloadBytes: number): HttpRequestSpec {
  const payload = Buffer.alloc(payloadBytes, 0x61);
  return {
    method: 'POST',
    path: () => `/v1.0/invoke/${appId}/method/echo`,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: () => payload,
    check: (status, bytes) => (status !== 200 ? `HTTP ${status}` : bytes !== payloadBytes ? `body of ${bytes} bytes` : null),
  };
}

function httpEchoSpec(payloadBytes: number): HttpRequestSpec {
  const payload = Buffer.alloc(payloadBytes, 0x61);
  return {
    method: 'POST',
    path: () => '/echo',
    headers: { 'content-type': 'application/octet-stream' },
    body: () => payload,
    check: (status, bytes) => (status !== 200 ? `HTTP ${status}` : bytes !== payloadBytes ? `body of ${bytes} bytes` : null),
  };
}

/** Saves the key the get rows read, through the same transport. */
async function seedHttpGetKey(target: Extract<TargetSpec, { kind: 'hearth-http' }>): Promise<void> {
  const agent = new http.Agent({ keepAlive: false });
  const save = hearthHttpSpec('save', target.token, target.payloadBytes);
  const value = JSON.stringify('a'.repeat(target.payloadBytes));
  try {
    await new Promise<void>((resolve, reject) => httpRequest(target.socketPath, agent,
      { ...save, body: () => `[{"key":"bench-get-http","value":${value}}]` }, 0, (err) => (err ? reject(err) : resolve())));
  } finally {
    agent.destroy();
  }
}

function openInvokeClient(target: HearthInvokeTarget, connections: number): Promise<BenchClient> {
  switch (target.transport) {
    case 'wire':
      return openWireInvokeClient(target, connections);
    case 'grpc':
      return openGrpcInvokeClient(target, connections);
    case 'http': {
      const spec = httpInvokeSpec(target.appId, target.token, target.payloadBytes);
      return openHttpClient(target.socketPath, connections, spec, spec);
    }
  }
}

export async function createClient(target: TargetSpec, connections: number): Promise<BenchClient> {
  switch (target.kind) {
    case 'raw-echo':
      return openRawEchoClient(target.socketPath, target.payloadBytes, connections);
    case 'grpc-echo':
      return openGrpcClient(target.socketPath, connections, grpcEchoSpec(target.protoPath, target.payloadBytes));
    case 'http-echo': {
      const spec = httpEchoSpec(target.payloadBytes);
      return openHttpClient(target.socketPath, connections, spec, spec);
    }
    case 'hearth-grpc':
      return openHearthGrpcClient(target, connections);
    case 'hearth-http': {
      if (target.op === 'get') await seedHttpGetKey(target);
      const spec = hearthHttpSpec(target.op, target.token, target.payloadBytes);
      return openHttpClient(target.socketPath, connections, spec, spec);
    }
    case 'hearth-wire':
      return openHearthWireClient(target, connections);
    case 'hearth-invoke':
      return openInvokeClient(target, connections);
    case 'redis-direct':
      return openRedisDirectClient(target, connections);
    case 'kafka-direct':
      return openKafkaDirectClient(target, connections);
  }
}
