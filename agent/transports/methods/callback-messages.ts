// hearth.runtime.v1.AppCallback/Connect messages mapped to and from the invoke building block's
// callback types; shared by the gRPC and wire callback streams.
import type { CallbackInvocation, CallbackOptions, CallbackOutcome } from '../../building-blocks/runtime-api.js';
import type {
  CallbackFromApp__Output as CallbackFromAppMsg,
  CallbackInvocation__Output as CallbackInvocationMsg,
  CallbackRegister__Output as CallbackRegisterMsg,
  CallbackResult__Output as CallbackResultMsg,
  CallbackToApp as CallbackToAppMsg,
} from '@hearth/protocol';

export type { CallbackFromAppMsg, CallbackToAppMsg };

export const CALLBACK_CONNECT_PATH = 'hearth.runtime.v1.AppCallback/Connect';
export const CALLBACK_API = 'invoke.callback';

export function toCallbackOptions(register: CallbackRegisterMsg): CallbackOptions {
  return { methods: register.methods, maxConcurrency: register.maxConcurrency };
}

export function toInvocationMsg(inv: CallbackInvocation): CallbackInvocationMsg {
  return {
    id: inv.id,
    method: inv.method,
    data: inv.data,
    contentType: inv.contentType,
    metadata: { ...inv.metadata },
    callerAppId: inv.callerAppId,
    deadlineMs: inv.deadlineMs,
    traceparent: inv.traceparent,
    httpVerb: inv.httpVerb,
  };
}

/**
 * An app's result: its error (when set) becomes a failed outcome with the app's own code. `hearth-*`
 * metadata is the agent's (an app channel's `hearth-http-status` sets the caller's HTTP status): an
 * app's own keys of that name are dropped.
 */
export function toOutcome(result: CallbackResultMsg): CallbackOutcome {
  if (result.error) return { ok: false, code: result.error.code, message: result.error.message };
  return { ok: true, result: { data: result.data, contentType: result.contentType, metadata: withoutReserved(result.metadata) } };
}

function withoutReserved(metadata: Record<string, string>): Record<string, string> {
  let reserved = false;
  for (const key in metadata) if (key.toLowerCase().startsWith('hearth-')) reserved = true;
  if (!reserved) return metadata;
  return Object.fromEntries(Object.entries(metadata).filter(([key]) => !key.toLowerCase().startsWith('hearth-')));
}
