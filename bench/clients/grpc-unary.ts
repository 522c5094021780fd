// Loads a service from a .proto (proto-loader, the way the agent does) and makes unary calls on N
// separate HTTP/2 connections: each channel gets its own subchannel pool, otherwise grpc-js would
// share one connection between channels with the same target and options. Channelz bookkeeping is
// off on the client only (the generator's cost; servers keep their defaults).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { errorOf, inBatches, once, type BenchClient, type Done } from './bench-client.js';

export type ProtoObject = Record<string, unknown>;
export type UnaryMethod = protoLoader.MethodDefinition<object, object>;

const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };

function isServiceDefinition(def: protoLoader.AnyDefinition | undefined): def is protoLoader.ServiceDefinition {
  return def !== undefined && !('format' in def);
}

/** The service `fullName` (e.g. `hearth.runtime.v1.State`) from `file` resolved against `includeDirs`. */
export function loadService(file: string, includeDirs: string[], fullName: string): protoLoader.ServiceDefinition {
  const pkg = protoLoader.loadSync(file, { ...LOADER_OPTIONS, includeDirs });
  const service = pkg[fullName];
  if (!isServiceDefinition(service)) throw new Error(`${fullName} is not a service in ${file}`);
  return service;
}

export function unaryMethod(service: protoLoader.ServiceDefinition, name: string): UnaryMethod {
  const method = service[name];
  if (method === undefined || method.requestStream || method.responseStream) throw new Error(`${name} is not a unary method`);
  return method;
}

export interface UnaryCallSpec {
  method: UnaryMethod;
  /** Builds the request of the n-th call. */
  request: (n: number) => object;
  /** Returns an error message when a response is not what the benchmark expects. */
  check: (response: ProtoObject) => string | null;
  metadata: grpc.Metadata;
}

export async function openGrpcClient(socketPath: string, connections: number, spec: UnaryCallSpec): Promise<BenchClient> {
  const clients: grpc.Client[] = [];
  const target = `unix:${socketPath}`;
  const { method } = spec;
  let n = 0;
  try {
    await inBatches(connections, 50, async (i) => {
      const client = new grpc.Client(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.enable_channelz': 0 });
      clients[i] = client;
      await new Promise<void>((resolve, reject) => {
        client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve()));
      });
    });
  } catch (err) {
    for (const client of clients) client?.close();
    throw err;
  }
  return {
    connections,
    send(connection: number, done: Done) {
      const client = clients[connection % connections];
      if (client === undefined) {
        done(new Error(`no connection ${connection}`));
        return;
      }
      const finish = once(done);
      try {
        client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, spec.request(n++),
          spec.metadata.clone(), (err, response) => {
            if (err) finish(err);
            else if (response === undefined) finish(new Error('empty response'));
            else {
              const problem = spec.check(response as ProtoObject);
              finish(problem === null ? null : new Error(problem));
            }
          });
      } catch (err) {
        finish(errorOf(err));
      }
    },
    async close() {
      for (const client of clients) client.close();
    },
  };
}
