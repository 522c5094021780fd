// Turns anything thrown on the HTTP path (HearthErrors from the runtime API, fastify's own
// FST_ERR_* errors, schema violations, bugs) into a catalog code, and renders it the way Dapr
// does: `{ "errorCode": …, "message": … }` plus the `hearth-error-code` header. No non-catalog
// code ever reaches an app.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorObject } from 'ajv';
import { HearthError, toHearthError } from '../../errors/hearth-error.js';
import type { ErrorCode } from '../../errors/error-catalog.js';
import { setResultCode } from './http-context.js';

export const ERROR_CODE_HEADER = 'hearth-error-code';

/** fastify codes that mean "the request itself is broken", with the catalog code they become. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'HEARTH_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'HEARTH_ERR_MALFORMED_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'HEARTH_ERR_MALFORMED_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'HEARTH_ERR_MALFORMED_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'HEARTH_ERR_MALFORMED_REQUEST',
  FST_ERR_CTP_INVALID_TYPE: 'HEARTH_ERR_MALFORMED_REQUEST',
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: 'HEARTH_ERR_MALFORMED_REQUEST',
  FST_ERR_BAD_URL: 'HEARTH_ERR_INVALID_ARGUMENT',
  FST_ERR_ASYNC_CONSTRAINT: 'HEARTH_ERR_INVALID_ARGUMENT',
  FST_ERR_NOT_FOUND: 'HEARTH_ERR_NOT_FOUND',
  FST_ERR_VALIDATION: 'HEARTH_ERR_INVALID_ARGUMENT',
};

interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  validation?: readonly ErrorObject[];
  validationContext?: string;
}

/** Maps any thrown value to a HearthError; unknown errors become HEARTH_ERR_INTERNAL. */
export function toHttpError(err: unknown): HearthError {
  if (err instanceof HearthError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as FastifyLikeError;
  if (Array.isArray(e.validation) && e.validation.length > 0) {
    return new HearthError('HEARTH_ERR_INVALID_ARGUMENT', formatValidation(e.validationContext ?? 'request', e.validation), undefined, {
      cause: err,
    });
  }
  const message = typeof e.message === 'string' ? e.message : undefined;
  if (typeof e.code === 'string' && e.code.startsWith('FST_')) {
    const mapped = FASTIFY_CODES[e.code];
    if (mapped) return new HearthError(mapped, mapped === 'HEARTH_ERR_NOT_FOUND' ? undefined : message, undefined, { cause: err });
  }
  // Any other client-side error fastify raised while reading the request (a 4xx: an FST_ code,
  // or `aborted`/ECONNRESET when the client hangs up mid-body) is the request's fault, not ours.
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code: ErrorCode = e.statusCode === 413 ? 'HEARTH_ERR_BODY_TOO_LARGE' : 'HEARTH_ERR_MALFORMED_REQUEST';
    return new HearthError(code, message, undefined, { cause: err });
  }
  return toHearthError(err);
}

/** `body[0].key: must be string` — the path of the first violation, as the config loader prints. */
export function formatValidation(context: string, errors: readonly ErrorObject[]): string {
  return errors
    .slice(0, 3)
    .map((e) => {
      let where = context + e.instancePath.split('/').slice(1).map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`)).join('');
      let message = e.message ?? 'is invalid';
      if (e.keyword === 'required') {
        where += `.${(e.params as { missingProperty: string }).missingProperty}`;
        message = 'is required';
      } else if (e.keyword === 'additionalProperties') {
        where += `.${(e.params as { additionalProperty: string }).additionalProperty}`;
        message = 'unknown property';
      } else if (e.keyword === 'enum') {
        message = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
      }
      return `${where}: ${message}`;
    })
    .join('; ');
}

export interface ErrorBody {
  readonly errorCode: ErrorCode;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

export function errorBody(err: HearthError): ErrorBody {
  return err.details && err.code !== 'HEARTH_ERR_INTERNAL'
    ? { errorCode: err.code, message: err.message, details: err.details }
    : { errorCode: err.code, message: err.message };
}

/** fastify's error handler: log what deserves it, record the code for metrics, render. */
export function renderError(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const herr = toHttpError(err);
  setResultCode(request, herr.code);
  if (herr.code === 'HEARTH_ERR_INTERNAL') {
    request.log.error({ err }, 'request failed with an internal error');
  } else if (herr.httpStatus >= 500 && herr.code !== 'HEARTH_ERR_DRAINING') {
    request.log.warn({ err: herr }, herr.message);
  } else {
    request.log.debug({ errorCode: herr.code, message: herr.message }, 'request rejected');
  }
  if (reply.sent || reply.raw.headersSent) {
    // A stream already started: all we can do is cut it.
    reply.raw.destroy();
    return;
  }
  void reply.code(herr.httpStatus).header(ERROR_CODE_HEADER, herr.code).type('application/json').send(errorBody(herr));
}
