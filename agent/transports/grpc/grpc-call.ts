// The gRPC server's view of the per-call core (../call-core.ts): request id, trace context and
// deadline come from the call's metadata and grpc-timeout; the outcome goes back as a status with
// the catalog's gRPC code and the `hearth-error-code` trailer.
import * as grpc from '@grpc/grpc-js';
import { parseBearer } from '../../apps/app-registry.js';
import type { CallContext } from '../../building-blocks/runtime-api.js';
import { HearthError } from '../../errors/hearth-error.js';
import { CallCore } from '../call-core.js';
import type { TransportDeps } from '../transport-deps.js';
import { isMalformed, messageBytes, type MalformedMessage } from './wire-codec.js';

/** Trailer carrying the stable HEARTH_ERR_* code of a failed call. */
export const ERROR_CODE_KEY = 'hearth-error-code';
export const REQUEST_ID_KEY = 'x-request-id';
/** Trailer carrying the error's details as JSON (e.g. `{"appCode":"E42"}`), when it has any. */
export const ERROR_DETAILS_KEY = 'hearth-error-details';
const TRACEPARENT_KEY = 'traceparent';
/** A cancellation this close to the deadline counts as the deadline (see the constructor). */
const DEADLINE_SLACK_MS = 100;

/** What every grpc-js server call has (grpc-js does not export its ServerSurfaceCall type). */
export type SurfaceCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getDeadline' | 'once' | 'cancelled'>;

export interface GrpcStatus {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

/** The longest a stream message over its app's quota waits before it is tried again. */
const MESSAGE_RETRY_MS = 100;

export class GrpcCall {
  readonly requestId: string;
  readonly ctx: CallContext;
  readonly #core: CallCore;
  readonly #deps: TransportDeps;
  readonly #metadata: grpc.Metadata;

  /**
   * `call`, when given, supplies the deadline (grpc-timeout) and cancellation; streams whose
   * lifetime is not one request may leave it out.
   */
  constructor(deps: TransportDeps, api: string, metadata: grpc.Metadata, bytesIn = 0, call?: SurfaceCall) {
    this.#deps = deps;
    this.#metadata = metadata;
    const deadline = call === undefined ? undefined : deadlineOf(call);
    const core = new CallCore(deps, 'grpc', api, { requestId: firstString(metadata, REQUEST_ID_KEY), traceparent: firstString(metadata, TRACEPARENT_KEY), deadline }, bytesIn);
    this.#core = core;
    this.requestId = core.requestId;
    core.setWho({ app: deps.app.id });
    core.begin(deps.app.id);
    // A cancellation at the deadline is the deadline's doing (grpc-js's own timer, or the
    // client's, which runs a little ahead of ours by the time the request took to arrive): that
    // one is left to the deadline, so the call ends HEARTH_ERR_TIMEOUT rather than CANCELLED.
    call?.once('cancelled', () => {
      if (deadline !== undefined && deadline - Date.now() <= DEADLINE_SLACK_MS) return;
      core.abort(new HearthError('HEARTH_ERR_CANCELLED', 'the caller cancelled the call'));
    });
    this.ctx = core.ctx(deps.app);
  }

  /**
   * Throws HEARTH_ERR_UNAUTHENTICATED unless `authorization: Bearer <token>` is this app's token,
   * then HEARTH_ERR_RESOURCE_EXHAUSTED when the app is over a quota. An admitted call holds its
   * quota until ok(), fail() or cancelled() — for a stream, as long as it is open.
   */
  authenticate(): void {
    this.#deps.apps.authenticate(this.#deps.app, parseBearer(firstString(this.#metadata, 'authorization')));
    this.#core.admit(this.#deps.app);
  }

  /** Throws HEARTH_ERR_MALFORMED_REQUEST for bytes that did not decode; narrows the request. */
  wellFormed<T>(message: T | MalformedMessage): T {
    if (isMalformed(message)) {
      throw new HearthError('HEARTH_ERR_MALFORMED_REQUEST', `the request is not a valid protobuf message: ${message.reason}`);
    }
    return message;
  }

  addBytesOut(bytes: number): void {
    this.#core.addBytesOut(bytes);
  }

  /** One message the app sent on this stream, counted like a request; false when over its quota. */
  admitMessage(message: unknown): boolean {
    return this.#deps.quotas?.admitMessage?.(this.#deps.app, messageBytes(message)) !== false;
  }

  /** How long a message refused by admitMessage waits before it is tried again. */
  messageRetryMs(): number {
    const rps = this.#deps.app.quota.requestsPerSecond;
    return rps > 0 ? Math.min(MESSAGE_RETRY_MS, Math.ceil(1000 / rps)) : MESSAGE_RETRY_MS;
  }

  /** An answer the app sent on this stream: charged to its quotas as a request, never refused. */
  chargeMessage(message: unknown): void {
    this.#deps.quotas?.charge?.(this.#deps.app, messageBytes(message), 1);
  }

  /** Holds one of the app's stream places (budgets.streams) until the call ends; throws when at the budget. */
  holdStream(): void {
    const budgets = this.#deps.budgets;
    if (budgets !== undefined) this.#core.hold(budgets.stream(this.#deps.app));
  }

  /** Trailers every response carries: the request id, so app logs can be matched with ours. */
  trailers(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set(REQUEST_ID_KEY, this.requestId);
    return md;
  }

  /** Records a successful call. Idempotent with fail(). */
  ok(response?: unknown): void {
    this.#core.ok(messageBytes(response));
  }

  /** Records a failed call and returns the status to send: catalog gRPC code, message, coded trailer. */
  fail(err: unknown): GrpcStatus {
    const e = this.#core.fail(err);
    const metadata = this.trailers();
    metadata.set(ERROR_CODE_KEY, e.code);
    const details = e.code === 'HEARTH_ERR_INTERNAL' ? undefined : detailsTrailer(e.details);
    if (details !== undefined) metadata.set(ERROR_DETAILS_KEY, details);
    return { code: e.grpcStatus, details: e.message, metadata };
  }

  /** The client went away (cancel, deadline, connection loss). */
  cancelled(): void {
    this.#core.cancelled();
  }
}

/** Bigger details are left out rather than risk the client's header limit. */
const MAX_DETAILS_CHARS = 4096;

/**
 * Details as JSON in printable ASCII, which is all a gRPC text header may hold (grpc-js throws on
 * anything else): other characters are \u-escaped, so the value still parses to the same object.
 * Details often quote what the app sent (a key with a control character, say).
 */
function detailsTrailer(details: Record<string, unknown> | undefined): string | undefined {
  if (details === undefined) return undefined;
  const json = JSON.stringify(details).replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return json.length <= MAX_DETAILS_CHARS ? json : undefined;
}

/** The call's absolute deadline (Date.now() ms) from grpc-timeout; undefined when it has none. */
function deadlineOf(call: SurfaceCall): number | undefined {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : undefined;
}


function firstString(metadata: grpc.Metadata, key: string): string | undefined {
  const v = metadata.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

/**
 * Adapts `run` to a grpc-js unary handler: authenticates, rejects malformed bytes, and answers
 * with the result or a coded status. Nothing an app sends can reject past this function.
 */
export function unary<Req, Res>(
  deps: TransportDeps,
  api: string,
  run: (ctx: CallContext, request: Req) => Promise<Res> | Res,
): grpc.handleUnaryCall<Req | MalformedMessage, Res> {
  return (call, callback) => {
    const c = new GrpcCall(deps, api, call.metadata, messageBytes(call.request), call);
    const serve = async (): Promise<void> => {
      let response: Res;
      try {
        c.authenticate();
        response = await run(c.ctx, c.wellFormed(call.request));
      } catch (err) {
        callback(c.fail(err));
        return;
      }
      callback(null, response, c.trailers());
      c.ok(response);
    };
    serve().catch((err: unknown) => {
      deps.logger.error({ err, api }, 'grpc handler crashed');
    });
  };
}
