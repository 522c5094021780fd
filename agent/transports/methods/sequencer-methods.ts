// hearth.runtime.v1.Sequencer: message mapping only.
import type { RuntimeApi } from '../../building-blocks/runtime-api.js';
import { type GetNextIdRequest__Output as GetNextIdRequestMsg } from '@hearth/protocol';
import { method, type MethodTable } from './unary-method.js';

export function sequencerMethods(api: RuntimeApi): MethodTable {
  return {
    'hearth.runtime.v1.Sequencer/GetNextId': method('sequencer.next', async (ctx, req: GetNextIdRequestMsg) => ({
      // int64 goes out as a decimal string: exact beyond 2^53 (proto-loader `longs: String`).
      nextId: (await api.sequencer.next(ctx, req.storeName, req.key)).toString(),
    })),
  };
}
