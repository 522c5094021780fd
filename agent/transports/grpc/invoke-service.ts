// hearth.runtime.v1.Invoke over gRPC: message mapping only. ACLs, deadlines, routing and delivery
// live behind api.invoke; the caller's budget (grpc-timeout), trace context and cancellation
// reach it through the CallContext GrpcCall builds.
import type * as grpc from '@grpc/grpc-js';
import type { InvokeResult } from '../../building-blocks/runtime-api.js';
import type { TransportDeps } from '../transport-deps.js';
import { unary } from './grpc-call.js';
import type { StringMap } from './grpc-messages.js';

/** hearth.runtime.v1.InvokeRequest as proto-loader decodes it (LOADER_OPTIONS). */
export interface InvokeRequestMsg {
  appId: string;
  method: string;
  data: Buffer;
  contentType: string;
  metadata: StringMap;
  idempotent: boolean;
  httpVerb: string;
}

export interface InvokeResponseMsg {
  data: Buffer;
  contentType: string;
  metadata: StringMap;
}

export function invokeService(deps: TransportDeps): grpc.UntypedServiceImplementation {
  return {
    InvokeService: unary(deps, 'invoke.invoke', async (ctx, req: InvokeRequestMsg) =>
      toResponse(
        await deps.api.invoke.invoke(ctx, {
          appId: req.appId,
          method: req.method,
          data: req.data,
          contentType: req.contentType,
          metadata: req.metadata,
          idempotent: req.idempotent,
          httpVerb: req.httpVerb,
        }),
      ),
    ),
  };
}

function toResponse(r: InvokeResult): InvokeResponseMsg {
  return { data: r.data, contentType: r.contentType, metadata: { ...r.metadata } };
}
