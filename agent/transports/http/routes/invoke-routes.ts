// Dapr's service invocation: `<VERB> /v1.0/invoke/{appId}/method/{method...}`. The body goes to
// the target as is, whatever its Content-Type (every body reaches routes as a Buffer, see
// http-app-server.ts), and the target's answer comes back as is: status 200 (or the status an app
// channel's HTTP server answered with, metadata hearth-http-status), its bytes, its content type,
// its metadata as headers. The method may contain `/`; the query string travels as
// metadata `query`; other request headers travel as metadata, except the ones about this hop
// (connection, length, the caller's token) and the reserved `hearth-*`.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { InvokeResult } from '../../../building-blocks/runtime-api.js';
import { HEADER_VALUE, HTTP_STATUS_METADATA, QUERY_METADATA_KEY, TOKEN } from '../../../app-channel/http-app-channel.js';
import { HearthError } from '../../../errors/hearth-error.js';
import type { TransportDeps } from '../../transport-deps.js';
import { callContext, REQUEST_ID_HEADER } from '../http-context.js';

const VERBS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;
/** Says the call may run more than once even though its verb is not idempotent (POST, PATCH). */
const IDEMPOTENT_HEADER = 'hearth-idempotent';

/**
 * Headers that describe this HTTP hop, not the call: never forwarded to the target nor taken from
 * its answer. `authorization` and `dapr-api-token` are the caller's secret.
 */
const HOP_HEADERS = new Set([
  'authorization',
  'dapr-api-token',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'content-length',
  'content-type',
  REQUEST_ID_HEADER,
  'traceparent',
]);

interface InvokeParams {
  appId: string;
  '*': string;
}

export function registerInvokeRoutes(server: FastifyInstance, deps: TransportDeps): void {
  server.route<{ Params: InvokeParams }>({
    method: [...VERBS],
    url: '/v1.0/invoke/:appId/method/*',
    // HEAD is declared with the others; fastify must not add its own.
    exposeHeadRoute: false,
    config: { hearthApi: 'invoke.invoke' },
    handler: async (request, reply) => {
      const method = request.params['*'];
      if (method === '') throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'the method is empty: /v1.0/invoke/{appId}/method/{method}');
      const result = await deps.api.invoke.invoke(callContext(deps, request), {
        appId: request.params.appId,
        method,
        data: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
        contentType: request.headers['content-type'] ?? '',
        metadata: metadataOf(request),
        idempotent: request.headers[IDEMPOTENT_HEADER] === 'true',
        httpVerb: request.method,
      });
      return answer(reply, result);
    },
  });
}

/** Request headers (minus this hop's and the reserved ones) and the query string. */
function metadataOf(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || HOP_HEADERS.has(name) || name.startsWith('hearth-')) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const q = request.url.indexOf('?');
  if (q >= 0 && q < request.url.length - 1) out[QUERY_METADATA_KEY] = request.url.slice(q + 1);
  return out;
}

function answer(reply: FastifyReply, result: InvokeResult): FastifyReply {
  for (const [name, value] of Object.entries(result.metadata)) {
    const key = name.toLowerCase();
    // Anything that is not a plain header, or that would change how this response is framed, stays out.
    if (!TOKEN.test(key) || !HEADER_VALUE.test(value) || HOP_HEADERS.has(key) || key.startsWith('hearth-')) continue;
    void reply.header(key, value);
  }
  const type = result.contentType !== '' && HEADER_VALUE.test(result.contentType) ? result.contentType : 'application/octet-stream';
  // An app channel's callee answered with another status: the caller gets it, as from Dapr.
  const status = Number(result.metadata[HTTP_STATUS_METADATA] ?? 200);
  void reply.code(Number.isInteger(status) && status >= 200 && status <= 599 ? status : 200).type(type);
  return reply.send(result.data);
}
