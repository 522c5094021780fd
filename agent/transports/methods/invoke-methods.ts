// hearth.runtime.v1.Invoke/InvokeService: the message mapping every transport shares. An app's
// own call goes through api.invoke.invoke (its ACLs, then routing); a call a trusted peer
// forwards (sibling agent, other worker) through deliverForwarded with the caller it verified.
import type { ForwardedInvocation, InvokeParams, InvokeResult, RuntimeApi } from '../../building-blocks/runtime-api.js';
import type { InvokeRequest__Output as InvokeRequestMsg, InvokeResponse__Output as InvokeResponseMsg } from '@hearth/protocol';
import { method, type MethodTable, type UnaryMethod } from './unary-method.js';

export const INVOKE_PATH = 'hearth.runtime.v1.Invoke/InvokeService';
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
  return { [INVOKE_PATH]: invokeMethod(api) };
}

/**
 * A forwarded invocation: everything but the request comes from the peer's verified call. Its
 * logger and signal are forwarded as getters, not copied: copying would read them, and a transport
 * may make them only on first use (a call that neither logs nor is cancelled then makes neither).
 */
export async function runForwardedInvoke(
  api: RuntimeApi,
  call: Omit<ForwardedInvocation, 'params'>,
  req: InvokeRequestMsg,
): Promise<InvokeResponseMsg> {
  const invocation: ForwardedInvocation = {
    scope: call.scope,
    callerAppId: call.callerAppId,
    params: toInvokeParams(req),
    deadline: call.deadline,
    traceparent: call.traceparent,
    requestId: call.requestId,
    get logger() {
      return call.logger;
    },
    get signal() {
      return call.signal;
    },
  };
  return toInvokeResponse(await api.invoke.deliverForwarded(invocation));
}
