// The app-facing contract as grpc-js services, in one table: every hearth.runtime.v1 service with
// its handlers. Unary methods come from the transport-independent method table (methods/), so
// gRPC and wire cannot map a message differently; the streaming ones have their own files.
// Definitions are built from the protocol package's generated descriptor, the same contract the
// wire protocol's codecs are built from.
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS, RUNTIME_PACKAGE, runtimeDescriptor, runtimeMethods } from '@hearth/protocol';
import { unaryMethods } from '../methods/runtime-methods.js';
import type { TransportDeps } from '../transport-deps.js';
import { callbackService } from './callback-service.js';
import { subscribeConfigurationHandler } from './configuration-service.js';
import { unary } from './grpc-call.js';
import { subscribeHandler } from './pubsub-subscribe.js';
import type { StreamRegistry } from './stream-registry.js';

type StreamHandlerFactory = (deps: TransportDeps, streams: StreamRegistry) => grpc.UntypedHandleCall;

/** The streaming methods, by `Service/Method` (the unary ones are found in the method table). */
const STREAMS: Readonly<Record<string, StreamHandlerFactory>> = {
  'PubSub/Subscribe': subscribeHandler,
  'Configuration/SubscribeConfiguration': subscribeConfigurationHandler,
  'AppCallback/Connect': callbackService,
};

/** Every service of hearth.runtime.v1, as the contract lists them (`State`, `PubSub`, …). */
export function serviceNames(): string[] {
  const names = new Set<string>();
  for (const path of runtimeMethods().keys()) names.add(path.slice(RUNTIME_PACKAGE.length + 1, path.indexOf('/')));
  return [...names];
}

let pkg: protoLoader.PackageDefinition | undefined;

/** hearth.runtime.v1 as a proto-loader package definition, once per process. */
export function runtimePackage(): protoLoader.PackageDefinition {
  pkg ??= protoLoader.fromJSON(runtimeDescriptor(), LOADER_OPTIONS);
  return pkg;
}

/** The grpc-js service definition of one hearth.runtime.v1 service. */
export function runtimeService(name: string): grpc.ServiceDefinition {
  const def = runtimePackage()[`${RUNTIME_PACKAGE}.${name}`];
  if (def === undefined || 'format' in def) throw new Error(`${RUNTIME_PACKAGE}.${name} is not a service in proto/`);
  return def;
}

/**
 * Every service's handlers for one app's server. A method of the contract with no handler is a
 * build error, found here when the first server is made, not a method gRPC silently lacks.
 */
export function runtimeHandlers(deps: TransportDeps, streams: StreamRegistry): Record<string, grpc.UntypedServiceImplementation> {
  const table = unaryMethods(deps.api);
  const out: Record<string, grpc.UntypedServiceImplementation> = {};
  for (const path of runtimeMethods().keys()) {
    const [service = '', method = ''] = path.slice(RUNTIME_PACKAGE.length + 1).split('/');
    const unaryMethod = Object.hasOwn(table, path) ? table[path] : undefined;
    const stream = STREAMS[`${service}/${method}`];
    let handler: grpc.UntypedHandleCall;
    if (unaryMethod !== undefined) handler = unary(deps, unaryMethod.api, (ctx, req: unknown) => unaryMethod.run(ctx, req));
    else if (stream !== undefined) handler = stream(deps, streams);
    else throw new Error(`${path} has no handler: add it to the method table (methods/) or to STREAMS`);
    (out[service] ??= {})[method] = handler;
  }
  return out;
}
