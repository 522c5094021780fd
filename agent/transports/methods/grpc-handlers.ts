// A method table's slice for one service as grpc-js unary handlers (grpc-call.ts `unary`: token,
// malformed bytes, coded status, metrics, log line). Lives beside the tables because every
// grpc/*-service.ts builds on it.
import type * as grpc from '@grpc/grpc-js';
import type { TransportDeps } from '../transport-deps.js';
import { unary } from '../grpc/grpc-call.js';
import { byShortName, type MethodTable } from './unary-method.js';

export function grpcUnaryHandlers(deps: TransportDeps, table: MethodTable, service: string): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, m] of Object.entries(byShortName(table, service))) {
    out[name] = unary(deps, m.api, (ctx, req: unknown) => m.run(ctx, req));
  }
  return out;
}
