// hearth.runtime.v1.State: message mapping only; the rules live in the StateApi.
import type { ConcurrencyMode } from '../../components/state-store.js';
import type { RuntimeApi, SaveItem, TransactionOp } from '../../building-blocks/runtime-api.js';
import { HearthError } from '../../errors/hearth-error.js';
import { type DeleteStateRequest__Output as DeleteStateRequestMsg, type ExecuteStateTransactionRequest__Output as ExecuteStateTransactionRequestMsg, type GetBulkStateRequest__Output as GetBulkStateRequestMsg, type GetStateRequest__Output as GetStateRequestMsg, type SaveStateRequest__Output as SaveStateRequestMsg, type StateItem__Output as StateItemMsg, type StateOptions__Output as StateOptionsMsg } from '@hearth/protocol';
import { method, type MethodTable } from './unary-method.js';

const S = 'hearth.runtime.v1.State';

export function stateMethods(api: RuntimeApi): MethodTable {
  const state = api.state;
  return {
    [`${S}/GetState`]: method('state.get', async (ctx, req: GetStateRequestMsg) => {
      const r = await state.get(ctx, req.storeName, req.key);
      return { found: r.found, data: r.value, etag: r.etag, metadata: {}, contentType: r.contentType };
    }),

    [`${S}/GetBulkState`]: method('state.bulkGet', async (ctx, req: GetBulkStateRequestMsg) => {
      const items = await state.bulkGet(ctx, req.storeName, req.keys);
      return {
        items: items.map((r) => ({
          key: r.key,
          found: r.found,
          data: r.value,
          etag: r.etag,
          error: r.error,
          metadata: {},
          contentType: r.contentType,
        })),
      };
    }),

    [`${S}/SaveState`]: method('state.save', async (ctx, req: SaveStateRequestMsg) => ({
      etags: await state.save(ctx, req.storeName, req.states.map(toSaveItem)),
    })),

    [`${S}/DeleteState`]: method('state.delete', async (ctx, req: DeleteStateRequestMsg) => ({
      deleted: await state.delete(ctx, req.storeName, {
        key: req.key,
        etag: req.etag?.value,
        concurrency: concurrencyOf(req.options),
      }),
    })),

    [`${S}/ExecuteStateTransaction`]: method('state.transact', async (ctx, req: ExecuteStateTransactionRequestMsg) => {
      const ops = req.operations.map((op, i): TransactionOp => {
        if (op.request === null) {
          throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `operations[${i}].request is required`);
        }
        const type = op.operationType.toLowerCase();
        if (type === 'upsert') return { type: 'upsert', ...toSaveItem(op.request) };
        if (type === 'delete') {
          return { type: 'delete', key: op.request.key, etag: op.request.etag?.value, concurrency: concurrencyOf(op.request.options) };
        }
        throw new HearthError(
          'HEARTH_ERR_INVALID_ARGUMENT',
          `operations[${i}].operationType must be "upsert" or "delete", got "${op.operationType.slice(0, 32)}"`,
        );
      });
      return { etags: await state.transact(ctx, req.storeName, ops) };
    }),
  };
}

function toSaveItem(item: StateItemMsg): SaveItem {
  return {
    key: item.key,
    value: item.value,
    etag: item.etag?.value,
    concurrency: concurrencyOf(item.options),
    metadata: item.metadata,
    contentType: item.contentType,
  };
}

function concurrencyOf(options: StateOptionsMsg | null): ConcurrencyMode | undefined {
  switch (options?.concurrency) {
    case 'CONCURRENCY_FIRST_WRITE':
      return 'first-write';
    case 'CONCURRENCY_LAST_WRITE':
      return 'last-write';
    default:
      return undefined;
  }
}
