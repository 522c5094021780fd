// Per-call plumbing shared by every handler: request id, authentication, the CallContext, the
// coded error status, one log line and the metrics of each call.
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
/** Bounded and printable, so a client cannot put anything it likes into our logs. */
const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

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
  #bytesOut = 0;
  #done = false;

  constructor(deps: TransportDeps, api: string, metadata: grpc.Metadata, bytesIn = 0) {
    this.#deps = deps;
    this.#api = api;
    this.#metadata = metadata;
    const given = firstString(metadata, REQUEST_ID_KEY);
    this.requestId = given !== undefined && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    const logger: Logger = deps.logger.child({ app: deps.app.id, requestId: this.requestId });
    this.ctx = { app: deps.app, requestId: this.requestId, transport: 'grpc', logger };
    this.#finish = deps.metrics.begin(deps.app.id, api, 'grpc', bytesIn);
  }

  /** Throws HEARTH_ERR_UNAUTHENTICATED unless `authorization: Bearer <token>` is this app's token. */
  authenticate(): void {
    this.#deps.apps.authenticate(this.#deps.app, parseBearer(firstString(this.#metadata, 'authorization')));
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
    const bytesOut = this.#bytesOut + messageBytes(response);
    this.#finish('OK', bytesOut);
    this.ctx.logger.debug({ api: this.#api, code: 'OK', durationMs: this.#durationMs() }, 'grpc call');
  }

  /** Records a failed call and returns the status to send: catalog gRPC code, message, coded trailer. */
  fail(err: unknown): GrpcStatus {
    const e = toHearthError(err);
    const metadata = this.trailers();
    metadata.set(ERROR_CODE_KEY, e.code);
    const status = { code: e.grpcStatus as grpc.status, details: e.message, metadata };
    if (this.#done) return status;
    this.#done = true;
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
    this.#finish('CANCELLED', this.#bytesOut);
    this.ctx.logger.debug({ api: this.#api, code: 'CANCELLED', durationMs: this.#durationMs() }, 'grpc call cancelled');
  }

  #durationMs(): number {
    return Number(process.hrtime.bigint() - this.#started) / 1e6;
  }
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
    const c = new GrpcCall(deps, api, call.metadata, messageBytes(call.request));
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
