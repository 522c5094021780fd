// hearth.runtime.v1.Invoke/InvokeService: the message mapping every transport shares. An app's
// own call goes through api.invoke.invoke (its ACLs, then routing); a call a trusted peer
// forwards (sibling agent, other worker) through deliverForwarded with the caller it verified.
import type { CallOrigin, ForwardedBy, InvokeParams, InvokeResult, RuntimeApi } from '../../building-blocks/runtime-api.js';
import { METHODS, type InvokeRequest__Output as InvokeRequestMsg, type InvokeResponse__Output as InvokeResponseMsg } from '@hearth/protocol';
import { method, type MethodTable, type UnaryMethod } from './unary-method.js';

export const INVOKE_API = 'invoke.invoke';
/** Metrics name of an invocation a sibling agent or another worker forwarded. */
export const INVOKE_FORWARDED_API = 'invoke.forwarded';

export type { InvokeRequestMsg, InvokeResponseMsg };

export function toInvokeParams(req: InvokeRequestMsg): InvokeParams {
  return {
    appId: req.appId,
    method: req.method,
    data: req.data,
    contentType: req.contentType,
    metadata: req.metadata,
    idempotent: req.idempotent,
    httpVerb: req.httpVerb,
  };
}

export function toInvokeResponse(result: InvokeResult): InvokeResponseMsg {
  return { data: result.data, contentType: result.contentType, metadata: { ...result.metadata } };
}

/** The app's own invocation, for a transport's unary table. */
export function invokeMethod(api: RuntimeApi): UnaryMethod<InvokeRequestMsg, InvokeResponseMsg> {
  return method(INVOKE_API, async (ctx, req: InvokeRequestMsg) => toInvokeResponse(await api.invoke.invoke(ctx, toInvokeParams(req))));
}

export function invokeMethods(api: RuntimeApi): MethodTable {
  return { [METHODS.invoke]: invokeMethod(api) };
}

/**
 * A forwarded invocation: the caller and scope are what the peer's connection established.
 * `viaPeerWorker`: another worker of this agent delivered it (see SERVED_BY_METADATA).
 */
export async function runForwardedInvoke(
  api: RuntimeApi,
  by: ForwardedBy,
  origin: CallOrigin,
  req: InvokeRequestMsg,
): Promise<{ response: InvokeResponseMsg; viaPeerWorker: boolean }> {
  const result = await api.invoke.deliverForwarded(by, origin, toInvokeParams(req));
  return { response: toInvokeResponse(result), viaPeerWorker: result.viaPeerWorker === true };
}
