// Every unary method of hearth.runtime.v1 in one table: the wire server and the gRPC services
// (grpc/grpc-services.ts) serve the same entries.
import type { RuntimeApi } from '../../building-blocks/runtime-api.js';
import { configurationMethods } from './configuration-methods.js';
import { invokeMethods } from './invoke-methods.js';
import { lockMethods } from './lock-methods.js';
import { metadataMethods } from './metadata-methods.js';
import { pubsubMethods } from './pubsub-methods.js';
import { sequencerMethods } from './sequencer-methods.js';
import { stateMethods } from './state-methods.js';
import type { MethodTable } from './unary-method.js';

export function unaryMethods(api: RuntimeApi): MethodTable {
  return {
    ...stateMethods(api),
    ...pubsubMethods(api),
    ...configurationMethods(api),
    ...lockMethods(api),
    ...sequencerMethods(api),
    ...metadataMethods(api),
    ...invokeMethods(api),
  };
}
