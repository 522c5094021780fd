// The invoke building block: validates the call, enforces both ends' ACLs (the caller's
// allow.apps, the target's allow.callers), turns the caller's budget into an absolute deadline,
// builds the one ForwardedCall that travels from here to the instance that answers, and hands it
// to the router. Forwarded calls (from a sibling agent or another worker) are checked against the
// target's allow.callers here too, with the caller identity the peer verified.
// The caller's context is carried as the call's origin, never read here: a transport may make its
// logger and signal on first use (the wire server does), and a call that logs nothing should not
// pay for a child logger.
import { isAppId } from '@hearth/protocol';
import { AppRegistry } from '../apps/app-registry.js';
import { policyFor } from '../config/mesh-config.js';
import { HearthError, toHearthError } from '../errors/hearth-error.js';
import { validateName, type ApiDeps } from './app-scope.js';
import type {
  CallbackHost,
  CallContext,
  CallOrigin,
  ForwardedCall,
  ForwardedBy,
  InvokeApi,
  InvokeParams,
  InvokeResult,
  InvokeRouter,
  InvokeScope,
} from './runtime-api.js';

export interface InvokeApiDeps extends ApiDeps {
  readonly callbacks: CallbackHost;
  readonly router: InvokeRouter;
}

/** Metadata keys an app may not set: the agent uses them between hops. */
export const RESERVED_METADATA_PREFIX = 'hearth-';
/** HTTP verbs that are idempotent by definition (RFC 9110 §9.2.2). */
const IDEMPOTENT_VERBS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export function createInvokeApi(deps: InvokeApiDeps): InvokeApi {
  const apps = new AppRegistry(deps.config.apps);

  const checkParams = (params: InvokeParams): void => {
    if (!isAppId(params.appId)) {
      throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'appId must be a declared app id (lowercase letters, digits, dashes)', {
        appId: params.appId.slice(0, 64),
      });
    }
    validateName(deps, params.method, 'method');
    for (const key of Object.keys(params.metadata ?? {})) {
      if (key.toLowerCase().startsWith(RESERVED_METADATA_PREFIX)) {
        throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `metadata key "${key.slice(0, 64)}" is reserved (prefix "${RESERVED_METADATA_PREFIX}")`);
      }
    }
  };

  /** Local targets check their allow.callers here; remote ones on their own agent. */
  const checkCaller = (callerAppId: string, target: string): void => {
    const app = apps.get(target);
    if (app === undefined) return;
    if (!app.allow.callers.includes('*') && !app.allow.callers.includes(callerAppId)) {
      throw new HearthError('HEARTH_ERR_PERMISSION_DENIED', `app "${target}" does not accept calls from "${callerAppId}"`, {
        caller: callerAppId,
        target,
      });
    }
  };

  const deadlineOf = (given: number | undefined, target: string): number => {
    const deadline = given ?? Date.now() + policyFor(deps.config.invoke, target).timeoutMs;
    if (deadline <= Date.now()) {
      throw new HearthError('HEARTH_ERR_TIMEOUT', `the call's deadline passed before it was forwarded to "${target}"`);
    }
    return deadline;
  };

  const route = async (caller: string, params: InvokeParams, origin: CallOrigin, scope: InvokeScope): Promise<InvokeResult> => {
    try {
      checkParams(params);
      checkCaller(caller, params.appId);
      const httpVerb = (params.httpVerb ?? '').toUpperCase();
      const policy = policyFor(deps.config.invoke, params.appId);
      const call: ForwardedCall = {
        target: params.appId,
        method: params.method,
        data: params.data,
        contentType: params.contentType ?? '',
        metadata: params.metadata ?? {},
        httpVerb,
        caller,
        idempotent: params.idempotent === true || IDEMPOTENT_VERBS.has(httpVerb),
        deadline: deadlineOf(origin.deadline, params.appId),
        traceparent: origin.traceparent ?? '',
        policy,
        scope,
        origin,
      };
      return await deps.router.route(call);
    } catch (err) {
      throw toAppFacing(toHearthError(err), params.appId);
    }
  };

  return {
    invoke: (ctx: CallContext, params: InvokeParams): Promise<InvokeResult> => {
      if (!AppRegistry.canInvoke(ctx.app, params.appId)) {
        return Promise.reject(
          new HearthError('HEARTH_ERR_PERMISSION_DENIED', `app "${ctx.app.id}" may not invoke "${params.appId}" (allow.apps)`, {
            target: params.appId.slice(0, 64),
          }),
        );
      }
      return route(ctx.app.id, params, ctx, 'any');
    },

    registerCallback: (ctx, sink, options) => deps.callbacks.register(ctx.app.id, sink, options),

    deliverForwarded: (by: ForwardedBy, origin: CallOrigin, params: InvokeParams): Promise<InvokeResult> => {
      if (apps.get(params.appId) === undefined) {
        return Promise.reject(new HearthError('HEARTH_ERR_UNKNOWN_APP', `no app "${params.appId.slice(0, 64)}" is declared on this agent`));
      }
      return route(by.callerAppId, params, origin, by.scope);
    },
  };
}

/**
 * AGENT_UNAVAILABLE and CALL_INTERRUPTED mean "your own agent went away" to an SDK, which fails over
 * on them. A sibling this agent could not reach is the target being unreachable: APP_UNAVAILABLE.
 */
function toAppFacing(e: HearthError, target: string): HearthError {
  if (e.code !== 'HEARTH_ERR_AGENT_UNAVAILABLE' && e.code !== 'HEARTH_ERR_CALL_INTERRUPTED') return e;
  return new HearthError('HEARTH_ERR_APP_UNAVAILABLE', `no instance of app "${target}" could be reached: ${e.message}`, e.details, { cause: e });
}
