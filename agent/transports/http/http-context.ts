// The HTTP server's view of the per-call core (../call-core.ts): request id, trace context and
// the `hearth-timeout-ms` budget from the request's headers, authentication and the app's quota
// in an onRequest hook, the metrics finished when the response closes; plus what every route
// shares: lenient JSON bodies and `metadata.*` query parameters.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ConnectionAuth, parseBearer } from '../../apps/app-registry.js';
import { jsonDepthWithin, MAX_JSON_DEPTH } from '../../building-blocks/json-depth.js';
import type { CallContext, Metadata } from '../../building-blocks/runtime-api.js';
import { MAX_TIMER_MS, validRequestId } from '@hearth/protocol';
import { HearthError } from '../../errors/hearth-error.js';
import { CallCore } from '../call-core.js';
import type { TransportDeps } from '../transport-deps.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Metrics label (`state.get`); routes without one are not counted. */
    hearthApi?: string;
    /** Served without a token (health checks). */
    hearthPublic?: boolean;
  }
}

export const REQUEST_ID_HEADER = 'x-request-id';
/** The caller's budget in milliseconds, counted from the moment the request's headers arrived. */
export const TIMEOUT_HEADER = 'hearth-timeout-ms';

/** Keeps the caller's `x-request-id` when it is sane (printable, ≤ 128 chars), else a UUID. */
export function genReqId(req: IncomingMessage): string {
  return validRequestId(req.headers[REQUEST_ID_HEADER]) ?? randomUUID();
}

interface RequestState {
  readonly core: CallCore;
  ctx?: CallContext;
  code?: string;
}

// Keyed by the fastify request object; avoids decorating the request type globally.
const states = new WeakMap<FastifyRequest, RequestState>();

/** The result code the metrics record for this request (a HEARTH_ERR_* code; OK by default). */
export function setResultCode(request: FastifyRequest, code: string): void {
  const s = states.get(request);
  if (s !== undefined) s.code = code;
}

export function tokenOf(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && auth !== '') return parseBearer(auth);
  const dapr = request.headers['dapr-api-token'];
  return typeof dapr === 'string' && dapr !== '' ? dapr.trim() : undefined;
}

export function callContext(deps: TransportDeps, request: FastifyRequest): CallContext {
  const s = states.get(request);
  if (s === undefined) throw new Error('callContext() before the onRequest hook ran');
  s.ctx ??= s.core.ctx(deps.app);
  return s.ctx;
}

/**
 * The body is read: bytes beyond what content-length declared (a chunked body declares none) are
 * charged to the app's byte quota, as the declared ones were at admission.
 */
export function chargeBody(deps: TransportDeps, request: FastifyRequest, bytes: number): void {
  const extra = bytes - contentLength(request);
  if (extra > 0) deps.quotas?.charge?.(deps.app, extra);
}

/** Holds one of the app's stream places (budgets.streams) until the response closes; throws when at the budget. */
export function holdStream(deps: TransportDeps, request: FastifyRequest): void {
  const s = states.get(request);
  if (s !== undefined && deps.budgets !== undefined) s.core.hold(deps.budgets.stream(deps.app));
}

/** `hearth-timeout-ms: <positive integer>` → absolute deadline; absent → none. */
function deadlineOf(request: FastifyRequest, arrived: number): number | undefined {
  const given = request.headers[TIMEOUT_HEADER];
  if (given === undefined) return undefined;
  const text = Array.isArray(given) ? '' : given.trim();
  const ms = /^[0-9]{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(ms >= 1 && ms <= MAX_TIMER_MS)) {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `${TIMEOUT_HEADER} must be a positive integer of milliseconds, got "${String(given).slice(0, 32)}"`);
  }
  return arrived + ms;
}

/**
 * onRequest hooks, in order: echo the request id, start the metrics timer (finished when the
 * response closes, whatever happened), authenticate, admit the call under the app's quota
 * (released when the response closes: a stream holds it while open), read the deadline.
 */
export function installRequestHooks(server: FastifyInstance, deps: TransportDeps, isClosing: () => boolean): void {
  server.addHook('onRequest', (request, reply, done) => {
    const arrived = Date.now();
    void reply.header(REQUEST_ID_HEADER, request.id);
    if (isClosing()) void reply.header('connection', 'close');
    const api = request.routeOptions.config.hearthApi ?? (request.is404 ? 'not_found' : undefined);
    // request.log is the pino child fastify made of our loggerInstance: bound to app and requestId.
    const core = new CallCore(deps, 'http', api ?? 'http', { requestId: request.id, traceparent: request.headers.traceparent }, contentLength(request), () => request.log as Logger);
    const s: RequestState = { core };
    states.set(request, s);
    // Counted from the socket: fastify hands content-length straight to writeHead, so the
    // response object never holds it. Includes the status line and headers.
    const socket = reply.raw.socket;
    const writtenBefore = socket?.bytesWritten ?? 0;
    if (api !== undefined) core.begin(deps.app.id);
    reply.raw.once('close', () => {
      const finished = reply.raw.writableFinished;
      // The response closing before it finished means the client went away: cancel downstream.
      if (!finished) core.abort(new HearthError('HEARTH_ERR_CANCELLED', 'the client closed the request'));
      core.end(s.code ?? (finished ? 'OK' : 'CANCELLED'), socket ? socket.bytesWritten - writtenBefore : 0);
    });
    if (request.routeOptions.config.hearthPublic === true) {
      done();
      return;
    }
    try {
      authOf(request).authenticate(deps.apps, deps.app, tokenOf(request));
      core.admit(deps.app);
      core.setDeadline(deadlineOf(request, arrived));
      done();
    } catch (err) {
      done(err as Error);
    }
  });
  server.addHook('onSend', (_request, reply, payload, done) => {
    // Keep-alive connections close at a request boundary while draining.
    if (isClosing()) void reply.header('connection', 'close');
    done(null, payload);
  });
}

/** Per keep-alive connection: its proven token (see ConnectionAuth). */
const connectionAuth = new WeakMap<object, ConnectionAuth>();

function authOf(request: FastifyRequest): ConnectionAuth {
  const socket = request.raw.socket as object | null;
  // No socket (an injected request): nothing to remember it by.
  if (socket === null) return new ConnectionAuth();
  let auth = connectionAuth.get(socket);
  if (auth === undefined) connectionAuth.set(socket, (auth = new ConnectionAuth()));
  return auth;
}

/** The declared body size; 0 when chunked or absent (quotas and metrics count what was declared). */
function contentLength(request: FastifyRequest): number {
  const length = Number(request.headers['content-length'] ?? 0);
  return Number.isFinite(length) && length > 0 ? length : 0;
}

type JsonParser = (req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => void;

/**
 * preValidation hook for JSON routes. Bodies arrive as Buffers whatever the Content-Type (Dapr
 * clients are not consistent about it); this parses them with fastify's own prototype-poisoning-safe
 * JSON parser, before schema validation runs.
 */
export function jsonBody(
  server: FastifyInstance,
  /** An empty body reads as `{}`. */
  options: { optional?: boolean } = {},
): (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void {
  const parse = server.getDefaultJsonParser('error', 'error') as JsonParser;
  return (request, _reply, done) => {
    const body = request.body;
    if (body === undefined || body === null || (Buffer.isBuffer(body) && body.length === 0)) {
      if (options.optional === true) {
        request.body = {};
        done();
      } else {
        done(new HearthError('HEARTH_ERR_MALFORMED_REQUEST', 'the request body is empty; expected JSON'));
      }
      return;
    }
    if (!Buffer.isBuffer(body)) {
      done();
      return;
    }
    if (!jsonDepthWithin(body)) {
      done(new HearthError('HEARTH_ERR_MALFORMED_REQUEST', `the request body nests deeper than ${MAX_JSON_DEPTH} levels`));
      return;
    }
    parse(request, body, (err, parsed) => {
      if (err) {
        done(new HearthError('HEARTH_ERR_MALFORMED_REQUEST', 'the request body is not valid JSON', undefined, { cause: err }));
        return;
      }
      request.body = parsed;
      done();
    });
  };
}

/** `?metadata.rawPayload=true&metadata.ttlInSeconds=5` → `{ rawPayload: 'true', ttlInSeconds: '5' }`. */
export function queryMetadata(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof query !== 'object' || query === null) return out;
  for (const [k, v] of Object.entries(query as Record<string, unknown>)) {
    if (!k.startsWith('metadata.') || k.length === 'metadata.'.length) continue;
    const value: unknown = Array.isArray(v) ? (v as unknown[])[v.length - 1] : v;
    if (typeof value === 'string') out[k.slice('metadata.'.length)] = value;
  }
  return out;
}

/** Query values may arrive once (string) or repeated (array). */
export function queryList(value: unknown): string[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is string => typeof v === 'string');
}

/** JSON metadata values must be strings in Dapr; numbers and booleans are accepted and stringified. */
export function stringMetadata(metadata: Readonly<Record<string, string | number | boolean>> | null | undefined): Metadata | undefined {
  if (metadata === undefined || metadata === null) return undefined;
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, String(v)]));
}

export function isJsonContentType(contentType: string): boolean {
  const base = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return base === 'application/json' || base.endsWith('+json') || base === 'text/json';
}
