// Typed sequencer calls: strictly increasing ids per key, as bigint (int64 travels as a decimal
// string, which a JS number cannot hold exactly).
import { callOptions, type BlockContext, type RequestOptions } from './request-options.js';
import type { GetNextIdResponse__Output } from '@hearth/protocol';

export class SequencerClient {
  readonly #ctx: BlockContext;

  constructor(ctx: BlockContext) {
    this.#ctx = ctx;
  }

  /** The next id of `key`: strictly greater than every id handed out before. Not replayed on failover. */
  async next(store: string, key: string, options?: RequestOptions): Promise<bigint> {
    const res = (await this.#ctx.transport.unary('hearth.runtime.v1.Sequencer/GetNextId', { storeName: store, key }, callOptions(options, false))) as GetNextIdResponse__Output;
    return BigInt(res.nextId);
  }
}
