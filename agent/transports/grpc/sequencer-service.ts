// hearth.runtime.v1.Sequencer over gRPC.
import type * as grpc from '@grpc/grpc-js';
import type { TransportDeps } from '../transport-deps.js';
import { unary } from './grpc-call.js';
import type { GetNextIdRequestMsg } from './grpc-messages.js';

export function sequencerService(deps: TransportDeps): grpc.UntypedServiceImplementation {
  return {
    GetNextId: unary(deps, 'sequencer.next', async (ctx, req: GetNextIdRequestMsg) => ({
      // int64 goes out as a decimal string: exact beyond 2^53 (proto-loader `longs: String`).
      nextId: (await deps.api.sequencer.next(ctx, req.storeName, req.key)).toString(),
    })),
  };
}
