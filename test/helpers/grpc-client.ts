// Real grpc-js clients generated at run time from proto/ (the same contract any language uses),
// promisified. Point them at an in-process server or at a real `hearth start`: a socket path and
// a token are all they need.
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { LOADER_OPTIONS, loadRuntimeProto } from './runtime-proto.js';

export type Msg = Record<string, unknown>;
export type Unary<Res = Msg> = (request: Msg, metadata?: grpc.Metadata) => Promise<Res>;

/** Responses, as proto-loader decodes them with LOADER_OPTIONS. */
export interface GetStateResponse {
  found: boolean;
  data: Buffer;
  etag: string;
  contentType: string;
}
export interface BulkStateItem extends GetStateResponse {
  key: string;
  error: string;
}
export interface ConfigurationItem {
  value: string;
  version: string;
  metadata: Record<string, string>;
  deleted: boolean;
}
export interface DeliveryMsg {
  deliveryId: string;
  messageId: string;
  topic: string;
  pubsubName: string;
  data: Buffer;
  dataContentType: string;
  attempt: number;
  metadata: Record<string, string>;
}
export interface SubscribeResponse {
  response: 'ready' | 'delivery';
  ready: { subscription: string } | null;
  delivery: DeliveryMsg | null;
}
export interface MetadataResponse {
  appId: string;
  runtimeVersion: string;
  components: { name: string; type: string; version: string; capabilities: string[] }[];
  allowedTopics: string[];
  allowedApps: string[];
  generation: number;
}

export interface GrpcClients {
  readonly address: string;
  readonly state: {
    GetState: Unary<GetStateResponse>;
    GetBulkState: Unary<{ items: BulkStateItem[] }>;
    SaveState: Unary<{ etags: string[] }>;
    DeleteState: Unary<{ deleted: boolean }>;
    ExecuteStateTransaction: Unary<{ etags: string[] }>;
  };
  readonly pubsub: {
    Publish: Unary<{ messageId: string }>;
    Subscribe(metadata?: grpc.Metadata): grpc.ClientDuplexStream<Msg, SubscribeResponse>;
  };
  readonly configuration: {
    GetConfiguration: Unary<{ items: Record<string, ConfigurationItem> }>;
    SubscribeConfiguration(
      request: Msg,
      metadata?: grpc.Metadata,
    ): grpc.ClientReadableStream<{ id: string; items: Record<string, ConfigurationItem> }>;
  };
  readonly lock: {
    TryLock: Unary<{ success: boolean }>;
    Unlock: Unary<{ status: string }>;
    KeepAlive: Unary<{ success: boolean }>;
  };
  readonly sequencer: { GetNextId: Unary<{ nextId: string }> };
  readonly metadata: { GetMetadata: Unary<MetadataResponse> };
  readonly health: {
    Check: Unary<{ status: string }>;
    Watch(request: Msg): grpc.ClientReadableStream<{ status: string }>;
  };
  /** grpc.reflection.v1 ServerReflectionInfo, one request → one response. */
  reflect(request: Msg): Promise<Msg>;
  /** Sends `bytes` as the request body of `path` (no serialisation), for malformed-input tests. */
  rawUnary(path: string, bytes: Buffer, metadata?: grpc.Metadata): Promise<Buffer>;
  /** Metadata carrying this client's token (none when created without one). */
  authMetadata(): grpc.Metadata;
  close(): void;
}

type ClientCtor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => grpc.Client;

const require = createRequire(import.meta.url);

function ctorAt(root: grpc.GrpcObject, dotted: string): ClientCtor {
  let node: unknown = root;
  for (const part of dotted.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'function') throw new Error(`${dotted} is not a service`);
  return node as ClientCtor;
}

let packages: grpc.GrpcObject | undefined;
function loadPackages(): grpc.GrpcObject {
  if (packages) return packages;
  const reflectionProto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  packages = grpc.loadPackageDefinition({
    ...loadRuntimeProto(),
    ...protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS),
    ...protoLoader.loadSync(reflectionProto, LOADER_OPTIONS),
  });
  return packages;
}

/** gRPC status + the Hearth code from the `hearth-error-code` trailer. */
export interface CallError {
  readonly code: grpc.status;
  readonly details: string;
  readonly hearthCode: string | undefined;
  /** The `x-request-id` trailer: the one the client sent, or the agent's. */
  readonly requestId: string | undefined;
}

export function callError(err: unknown): CallError {
  const e = err as Partial<grpc.ServiceError> | null;
  if (e === null || typeof e !== 'object' || typeof e.code !== 'number') throw err;
  const trailer = (key: string): string | undefined => {
    const v = e.metadata?.get(key)[0];
    return typeof v === 'string' ? v : undefined;
  };
  return { code: e.code, details: e.details ?? '', hearthCode: trailer('hearth-error-code'), requestId: trailer('x-request-id') };
}

/** `options` go to every stub, e.g. `{ 'grpc.use_local_subchannel_pool': 1 }` for a connection of its own. */
export function createGrpcClients(socketPath: string, token?: string, options?: grpc.ClientOptions): GrpcClients {
  const address = `unix:${socketPath}`;
  const pkgs = loadPackages();
  const creds = grpc.credentials.createInsecure();
  const clients: grpc.Client[] = [];
  const make = (service: string): grpc.Client => {
    const c = new (ctorAt(pkgs, service))(address, creds, options);
    clients.push(c);
    return c;
  };
  const authMetadata = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    if (token !== undefined) md.set('authorization', `Bearer ${token}`);
    return md;
  };
  const unary =
    <Res>(client: grpc.Client, method: string): Unary<Res> =>
    (request, metadata) =>
      new Promise<Res>((resolve, reject) => {
        const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method];
        if (!fn) throw new Error(`no method ${method}`);
        fn.call(client, request, metadata ?? authMetadata(), (err: grpc.ServiceError | null, res: Res) =>
          err ? reject(err) : resolve(res),
        );
      });
  const call = <T>(client: grpc.Client, method: string, ...args: unknown[]): T =>
    (client as unknown as Record<string, (...a: unknown[]) => T>)[method]!.call(client, ...args);

  const state = make('hearth.runtime.v1.State');
  const pubsub = make('hearth.runtime.v1.PubSub');
  const configuration = make('hearth.runtime.v1.Configuration');
  const lock = make('hearth.runtime.v1.Lock');
  const sequencer = make('hearth.runtime.v1.Sequencer');
  const metadata = make('hearth.runtime.v1.Metadata');
  const health = make('grpc.health.v1.Health');
  const reflection = make('grpc.reflection.v1.ServerReflection');

  return {
    address,
    state: {
      GetState: unary(state, 'GetState'),
      GetBulkState: unary(state, 'GetBulkState'),
      SaveState: unary(state, 'SaveState'),
      DeleteState: unary(state, 'DeleteState'),
      ExecuteStateTransaction: unary(state, 'ExecuteStateTransaction'),
    },
    pubsub: {
      Publish: unary(pubsub, 'Publish'),
      Subscribe: (md) => call(pubsub, 'Subscribe', md ?? authMetadata()),
    },
    configuration: {
      GetConfiguration: unary(configuration, 'GetConfiguration'),
      SubscribeConfiguration: (request, md) => call(configuration, 'SubscribeConfiguration', request, md ?? authMetadata()),
    },
    lock: { TryLock: unary(lock, 'TryLock'), Unlock: unary(lock, 'Unlock'), KeepAlive: unary(lock, 'KeepAlive') },
    sequencer: { GetNextId: unary(sequencer, 'GetNextId') },
    metadata: { GetMetadata: unary(metadata, 'GetMetadata') },
    health: { Check: unary(health, 'Check'), Watch: (request) => call(health, 'Watch', request) },
    reflect: (request) =>
      new Promise<Msg>((resolve, reject) => {
        const stream = call<grpc.ClientDuplexStream<Msg, Msg>>(reflection, 'ServerReflectionInfo');
        stream.once('data', (res: Msg) => {
          resolve(res);
          stream.end();
        });
        stream.on('error', reject); // after resolve(): the end of the stream, harmless
        stream.write(request);
      }),
    rawUnary: (path, bytes, md) =>
      new Promise<Buffer>((resolve, reject) => {
        const identity = (b: Buffer): Buffer => b;
        state.makeUnaryRequest(path, identity, identity, bytes, md ?? authMetadata(), (err, res) =>
          err || !res ? reject(err ?? new Error('no response')) : resolve(res),
        );
      }),
    authMetadata,
    close: () => clients.forEach((c) => c.close()),
  };
}
