// The invoke building block: validates the call, enforces both ends' ACLs (the caller's
// allow.apps, the target's allow.callers), turns the caller's budget into an absolute deadline,
// and hands the call to the router. Forwarded calls (from a sibling agent or another worker) are
// checked against the target's allow.callers here too, with the caller identity the peer verified.
// The caller's logger and signal are passed on as getters over its context, never read here: a
// transport may make them on first use (the wire server does), and a call that logs nothing
// should not pay for a child logger.
import type { Logger } from 'pino';
import { AppRegistry } from '../apps/app-registry.js';
import { validateName } from '../building-blocks/app-scope.js';
import type {
  CallContext,
  CallbackOptions,
  CallbackRegistration,
  CallbackSink,
  ForwardedInvocation,
  InvokeApi,
  InvokeParams,
  InvokeResult,
} from '../building-blocks/runtime-api.js';
import type { ApiDeps } from '../building-blocks/app-scope.js';
import { policyFor } from '../config/mesh-config.js';
import { HearthError, toHearthError } from '../errors/hearth-error.js';
import type { CallbackRegistry } from './callback-registry.js';
import type { InvokeRouter, RoutedCall } from './invoke-router.js';

export interface InvokeApiDeps extends ApiDeps {
  readonly callbacks: CallbackRegistry;
  readonly router: InvokeRouter;
}

/** The parts of a caller's context read only on use (CallContext and ForwardedInvocation have them). */
interface LazyCallParts {
  readonly logger: Logger;
  readonly signal?: AbortSignal | undefined;
}

/** Metadata keys an app may not set: the agent uses them between hops. */
export const RESERVED_METADATA_PREFIX = 'hearth-';
const APP_ID = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** HTTP verbs that are idempotent by definition (RFC 9110 §9.2.2). */
const IDEMPOTENT_VERBS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export function createInvokeApi(deps: InvokeApiDeps): InvokeApi {
  const apps = new AppRegistry(deps.config.apps);

  const checkParams = (params: InvokeParams): void => {
    if (!APP_ID.test(params.appId)) {
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

  const route = async (
    callerAppId: string,
    params: InvokeParams,
    deadline: number | undefined,
    traceparent: string | undefined,
    requestId: string,
    from: LazyCallParts,
    scope: RoutedCall['scope'],
  ): Promise<InvokeResult> => {
    try {
      checkParams(params);
      checkCaller(callerAppId, params.appId);
      const verb = (params.httpVerb ?? '').toUpperCase();
      return await deps.router.route({
        target: params.appId,
        input: {
          method: params.method,
          data: params.data,
          contentType: params.contentType ?? '',
          metadata: params.metadata ?? {},
          callerAppId,
          traceparent: traceparent ?? '',
          httpVerb: verb,
        },
        idempotent: params.idempotent === true || IDEMPOTENT_VERBS.has(verb),
        deadline: deadlineOf(deadline, params.appId),
        policy: policyFor(deps.config.invoke, params.appId),
        scope,
        requestId,
        get logger(): Logger {
          return from.logger;
        },
        get signal(): AbortSignal | undefined {
          return from.signal;
        },
      });
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
      return route(ctx.app.id, params, ctx.deadline, ctx.traceparent, ctx.requestId, ctx, 'any');
    },

    registerCallback: (ctx: CallContext, sink: CallbackSink, options: CallbackOptions): CallbackRegistration =>
      deps.callbacks.register(ctx.app.id, sink, options),

    deliverForwarded: (inv: ForwardedInvocation): Promise<InvokeResult> => {
      if (apps.get(inv.params.appId) === undefined) {
        return Promise.reject(new HearthError('HEARTH_ERR_UNKNOWN_APP', `no app "${inv.params.appId.slice(0, 64)}" is declared on this agent`));
      }
      return route(inv.callerAppId, inv.params, inv.deadline, inv.traceparent, inv.requestId, inv, inv.scope);
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
