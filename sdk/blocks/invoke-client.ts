// Typed service invocation: call a method of another app by its app id, wherever it runs. The
// agent picks the instance (this host first), propagates the deadline and, for idempotent calls
// only, retries and hedges. A handler failure on the other side arrives as HEARTH_ERR_APP_ERROR
// with the app's own code in `details.appCode`.
import { encodeValue, payload, type Payload, type Value } from '../payload.js';
import { callOptions, type BlockContext, type RequestOptions } from './request-options.js';
import { METHODS, type InvokeResponse__Output } from '@hearth/protocol';

export interface InvokeOptions extends RequestOptions {
  /** Safe to run more than once: the agent may retry and hedge it, failover may replay it. */
  readonly idempotent?: boolean;
  /** Passed to the target as is (keys starting with `hearth-` are reserved). */
  readonly metadata?: Record<string, string>;
  readonly contentType?: string;
}

export interface InvokeReply extends Payload {
  readonly metadata: Record<string, string>;
}

export class InvokeClient {
  readonly #ctx: BlockContext;

  constructor(ctx: BlockContext) {
    this.#ctx = ctx;
  }

  async invoke(appId: string, method: string, data: Value = Buffer.alloc(0), options: InvokeOptions = {}): Promise<InvokeReply> {
    const encoded = encodeValue(data, options.contentType);
    const idempotent = options.idempotent === true;
    const request = { appId, method, data: encoded.data, contentType: encoded.contentType, metadata: { ...options.metadata }, idempotent };
    const res = (await this.#ctx.transport.unary(METHODS.invoke, request, callOptions(options, idempotent))) as InvokeResponse__Output;
    return payload<Omit<InvokeReply, keyof Payload>>(res.data, res.contentType, { metadata: res.metadata });
  }
}
