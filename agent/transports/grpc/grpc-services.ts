// The app-facing contract as grpc-js services, in one table: every hearth.runtime.v1 service with
// its handlers. Unary methods come from the transport-independent method table (methods/), so
// gRPC and wire cannot map a message differently; the streaming ones have their own files.
// Definitions are built from the protocol package's generated descriptor, the same contract the
// wire protocol's codecs are built from.
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS, protocolDescriptor, RUNTIME_PACKAGE } from '@hearth/protocol';
import { unaryMethods } from '../methods/runtime-methods.js';
import { byShortName } from '../methods/unary-method.js';
import type { TransportDeps } from '../transport-deps.js';
import { callbackService } from './callback-service.js';
import { subscribeConfigurationHandler } from './configuration-service.js';
import { unary } from './grpc-call.js';
import { subscribeHandler } from './pubsub-subscribe.js';
import type { StreamRegistry } from './stream-registry.js';

/** The streaming handlers of each service (the unary ones are found in the method table). */
const STREAMS = {
  State: {},
  PubSub: { Subscribe: subscribeHandler },
  Configuration: { SubscribeConfiguration: subscribeConfigurationHandler },
  Lock: {},
  Sequencer: {},
  Metadata: {},
  Invoke: {},
  AppCallback: { Connect: callbackService },
} as const satisfies Record<string, Record<string, (deps: TransportDeps, streams: StreamRegistry) => grpc.UntypedHandleCall>>;

export type ServiceName = keyof typeof STREAMS;
export const SERVICE_NAMES = Object.keys(STREAMS) as ServiceName[];

let pkg: protoLoader.PackageDefinition | undefined;

/** hearth.runtime.v1 (and the wire header's package) as a proto-loader package definition, once per process. */
export function runtimePackage(): protoLoader.PackageDefinition {
  pkg ??= protoLoader.fromJSON(protocolDescriptor(), LOADER_OPTIONS);
  return pkg;
}

/** The grpc-js service definition of one hearth.runtime.v1 service. */
export function runtimeService(name: ServiceName): grpc.ServiceDefinition {
  const def = runtimePackage()[`${RUNTIME_PACKAGE}.${name}`];
  if (def === undefined || 'format' in def) throw new Error(`${RUNTIME_PACKAGE}.${name} is not a service in proto/`);
  return def;
}

/** Every service's handlers for one app's server. */
export function runtimeHandlers(deps: TransportDeps, streams: StreamRegistry): Record<ServiceName, grpc.UntypedServiceImplementation> {
  const table = unaryMethods(deps.api);
  const out = {} as Record<ServiceName, grpc.UntypedServiceImplementation>;
  for (const name of SERVICE_NAMES) {
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const [method, m] of Object.entries(byShortName(table, name))) handlers[method] = unary(deps, m.api, (ctx, req: unknown) => m.run(ctx, req));
    for (const [method, make] of Object.entries(STREAMS[name] as Record<string, (d: TransportDeps, s: StreamRegistry) => grpc.UntypedHandleCall>)) {
      handlers[method] = make(deps, streams);
    }
    out[name] = handlers;
  }
  return out;
}
