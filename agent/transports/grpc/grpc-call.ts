// Per-call plumbing shared by every handler: request id, authentication, the app's quota, the
// CallContext (deadline, trace context, cancellation), the coded error status, one log line and
// the metrics of each call.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { parseBearer } from '../../apps/app-registry.js';
import type { CallContext } from '../../building-blocks/runtime-api.js';
import { HearthError, toHearthError } from '../../errors/hearth-error.js';
import type { TransportDeps } from '../transport-deps.js';
import { isMalformed, messageBytes, type MalformedMessage } from './wire-codec.js';

/** Trailer carrying the stable HEARTH_ERR_* code of a failed call. */
export const ERROR_CODE_KEY = 'hearth-error-code';
export const REQUEST_ID_KEY = 'x-request-id';
/** Trailer carrying the error's details as JSON (e.g. `{"appCode":"E42"}`), when it has any. */
export const ERROR_DETAILS_KEY = 'hearth-error-details';
const TRACEPARENT_KEY = 'traceparent';
/** A cancellation this close to the deadline counts as the deadline (see cancellationOf). */
const DEADLINE_SLACK_MS = 100;
/** W3C trace context: version-traceid-parentid-flags, lowercase hex (bounded, so logs stay sane). */
const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
/** Bounded and printable, so a client cannot put anything it likes into our logs. */
const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** What every grpc-js server call has (grpc-js does not export its ServerSurfaceCall type). */
export type SurfaceCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getDeadline' | 'once' | 'cancelled'>;

export interface GrpcStatus {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

export class GrpcCall {
  readonly requestId: string;
  readonly ctx: CallContext;
  readonly #deps: TransportDeps;
  readonly #api: string;
  readonly #metadata: grpc.Metadata;
  readonly #started = process.hrtime.bigint();
  readonly #finish: (code: string, bytesOut?: number) => void;
  readonly #bytesIn: number;
  #bytesOut = 0;
  #done = false;
  /** Ends the call's hold on the app's quota; set once admitted. */
  #release: (() => void) | undefined;

  /**
   * `call`, when given, supplies the deadline (grpc-timeout) and cancellation; streams whose
   * lifetime is not one request may leave it out.
   */
  constructor(deps: TransportDeps, api: string, metadata: grpc.Metadata, bytesIn = 0, call?: SurfaceCall) {
    this.#deps = deps;
    this.#api = api;
    this.#metadata = metadata;
    this.#bytesIn = bytesIn;
    const given = firstString(metadata, REQUEST_ID_KEY);
    this.requestId = given !== undefined && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    const logger: Logger = deps.logger.child({ app: deps.app.id, requestId: this.requestId });
    const traceparent = firstString(metadata, TRACEPARENT_KEY)?.trim().toLowerCase();
    const deadline = call === undefined ? undefined : deadlineOf(call);
    this.ctx = {
      app: deps.app,
      requestId: this.requestId,
      transport: 'grpc',
      logger,
      deadline,
      traceparent: traceparent !== undefined && TRACEPARENT_PATTERN.test(traceparent) ? traceparent : undefined,
      signal: call === undefined ? undefined : cancellationOf(call, deadline),
    };
    this.#finish = deps.metrics.begin(deps.app.id, api, 'grpc', bytesIn);
  }

  /**
   * Throws HEARTH_ERR_UNAUTHENTICATED unless `authorization: Bearer <token>` is this app's token,
   * then HEARTH_ERR_RESOURCE_EXHAUSTED when the app is over a quota. An admitted call holds its
   * quota until ok(), fail() or cancelled() — for a stream, as long as it is open.
   */
  authenticate(): void {
    this.#deps.apps.authenticate(this.#deps.app, parseBearer(firstString(this.#metadata, 'authorization')));
    if (this.#done || this.#release !== undefined) return;
    this.#release = this.#deps.quotas?.admit(this.#deps.app, this.#bytesIn);
  }

  /** Throws HEARTH_ERR_MALFORMED_REQUEST for bytes that did not decode; narrows the request. */
  wellFormed<T>(message: T | MalformedMessage): T {
    if (isMalformed(message)) {
      throw new HearthError('HEARTH_ERR_MALFORMED_REQUEST', `the request is not a valid protobuf message: ${message.reason}`);
    }
    return message;
  }

  addBytesOut(bytes: number): void {
    this.#bytesOut += bytes;
  }

  /** Trailers every response carries: the request id, so app logs can be matched with ours. */
  trailers(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set(REQUEST_ID_KEY, this.requestId);
    return md;
  }

  /** Records a successful call. Idempotent with fail(). */
  ok(response?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#release?.();
    const bytesOut = this.#bytesOut + messageBytes(response);
    this.#finish('OK', bytesOut);
    this.ctx.logger.debug({ api: this.#api, code: 'OK', durationMs: this.#durationMs() }, 'grpc call');
  }

  /** Records a failed call and returns the status to send: catalog gRPC code, message, coded trailer. */
  fail(err: unknown): GrpcStatus {
    const e = toHearthError(err);
    const metadata = this.trailers();
    metadata.set(ERROR_CODE_KEY, e.code);
    const details = e.code === 'HEARTH_ERR_INTERNAL' ? undefined : detailsTrailer(e.details);
    if (details !== undefined) metadata.set(ERROR_DETAILS_KEY, details);
    const status = { code: e.grpcStatus as grpc.status, details: e.message, metadata };
    if (this.#done) return status;
    this.#done = true;
    this.#release?.();
    this.#finish(e.code, this.#bytesOut);
    const line = { api: this.#api, code: e.code, durationMs: this.#durationMs() };
    // Only our own faults are errors; an app's bad input is routine.
    if (e.code === 'HEARTH_ERR_INTERNAL') this.ctx.logger.error({ ...line, err }, 'grpc call failed');
    else this.ctx.logger.info({ ...line, message: e.message }, 'grpc call failed');
    return status;
  }

  /** The client went away (cancel, deadline, connection loss). */
  cancelled(): void {
    if (this.#done) return;
    this.#done = true;
    this.#release?.();
    this.#finish('CANCELLED', this.#bytesOut);
    this.ctx.logger.debug({ api: this.#api, code: 'CANCELLED', durationMs: this.#durationMs() }, 'grpc call cancelled');
  }

  #durationMs(): number {
    return Number(process.hrtime.bigint() - this.#started) / 1e6;
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

/**
 * Aborted when the client cancels or goes away. A cancellation at the deadline is the deadline's
 * doing (grpc-js's own timer, or the client's, which runs a little ahead of ours by the time the
 * request took to arrive): that one is left to the deadline, so the call ends HEARTH_ERR_TIMEOUT
 * in logs and metrics rather than HEARTH_ERR_CANCELLED.
 */
function cancellationOf(call: SurfaceCall, deadline: number | undefined): AbortSignal {
  const controller = new AbortController();
  call.once('cancelled', () => {
    if (deadline !== undefined && deadline - Date.now() <= DEADLINE_SLACK_MS) return;
    controller.abort(new HearthError('HEARTH_ERR_CANCELLED', 'the caller cancelled the call'));
  });
  return controller.signal;
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
