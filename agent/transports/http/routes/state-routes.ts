// Dapr's state API (https://docs.dapr.io/reference/api/state_api/): save, get, delete, bulk
// get and transactions. Values are JSON: a saved value is stored as its JSON text, so GET returns
// the same JSON (Dapr does the same).
import type { FastifyInstance } from 'fastify';
import type { ConcurrencyMode } from '../../../components/state-store.js';
import { jsonDepthWithin } from '../../../building-blocks/json-depth.js';
import type { DeleteItem, SaveItem, TransactionOp } from '../../../building-blocks/runtime-api.js';
import type { TransportDeps } from '../../transport-deps.js';
import { callContext, isJsonContentType, jsonBody, queryMetadata, stringMetadata } from '../http-context.js';
import { storeParams, stringMap } from '../http-validation.js';

const JSON_TYPE = 'application/json';

const options = {
  type: 'object',
  properties: {
    concurrency: { type: 'string', enum: ['first-write', 'last-write'] },
    consistency: { type: 'string', enum: ['eventual', 'strong'] },
  },
} as const;

const stateItem = {
  type: 'object',
  required: ['key', 'value'],
  properties: { key: { type: 'string' }, value: {}, etag: { type: 'string' }, options, metadata: stringMap },
} as const;

const keyParams = {
  type: 'object',
  required: ['store', 'key'],
  properties: { store: { type: 'string', minLength: 1 }, key: { type: 'string' } },
} as const;

interface StateOptionsBody {
  concurrency?: ConcurrencyMode;
  consistency?: string;
}

interface StateItemBody {
  key: string;
  value?: unknown;
  etag?: string;
  options?: StateOptionsBody;
  metadata?: Record<string, string | number | boolean>;
}

interface TransactionBody {
  operations: { operation: 'upsert' | 'delete'; request: StateItemBody }[];
  metadata?: Record<string, string | number | boolean>;
}

/** A JSON value becomes its JSON text; a string with a non-JSON `metadata.contentType` is stored as is. */
function toSaveItem(item: StateItemBody, queryMeta: Readonly<Record<string, string>> = {}): SaveItem {
  // Request-level `?metadata.x=` applies to every item; an item's own metadata wins.
  const own = stringMetadata(item.metadata);
  const metadata = Object.keys(queryMeta).length > 0 ? { ...queryMeta, ...own } : own;
  const declared = metadata?.contentType;
  const raw = declared !== undefined && !isJsonContentType(declared) && typeof item.value === 'string';
  return {
    key: item.key,
    value: raw ? Buffer.from(item.value as string, 'utf8') : Buffer.from(JSON.stringify(item.value) ?? 'null', 'utf8'),
    etag: item.etag === '' ? undefined : item.etag,
    concurrency: item.options?.concurrency,
    metadata,
    contentType: declared ?? JSON_TYPE,
  };
}

function toDeleteItem(item: StateItemBody): DeleteItem {
  return { key: item.key, etag: item.etag === '' ? undefined : item.etag, concurrency: item.options?.concurrency };
}

/** Dapr sends the raw ETag in If-Match; tolerate an RFC 7232 quoted one. */
function ifMatch(header: string | undefined): string | undefined {
  if (header === undefined || header === '' || header === '*') return undefined;
  const m = /^(?:W\/)?"(.*)"$/.exec(header.trim());
  return m ? m[1] : header.trim();
}

export function registerStateRoutes(server: FastifyInstance, deps: TransportDeps): void {
  const { api } = deps;
  const parseJson = jsonBody(server);

  server.post<{ Params: { store: string }; Body: StateItemBody[] }>(
    '/v1.0/state/:store',
    {
      config: { hearthApi: 'state.save' },
      preValidation: parseJson,
      schema: { params: storeParams, body: { type: 'array', items: stateItem } },
    },
    async (request, reply) => {
      const queryMeta = queryMetadata(request.query);
      await api.state.save(callContext(deps, request), request.params.store, request.body.map((item) => toSaveItem(item, queryMeta)));
      return reply.code(204).send();
    },
  );

  server.get<{ Params: { store: string; key: string } }>(
    '/v1.0/state/:store/:key',
    { config: { hearthApi: 'state.get' }, schema: { params: keyParams } },
    async (request, reply) => {
      const r = await api.state.get(callContext(deps, request), request.params.store, request.params.key);
      if (!r.found) return reply.code(204).send();
      return reply
        .code(200)
        .header('etag', r.etag)
        .type(r.contentType || JSON_TYPE)
        .send(r.value);
    },
  );

  server.delete<{ Params: { store: string; key: string }; Querystring: { concurrency?: ConcurrencyMode } }>(
    '/v1.0/state/:store/:key',
    {
      config: { hearthApi: 'state.delete' },
      schema: {
        params: keyParams,
        querystring: { type: 'object', properties: { concurrency: options.properties.concurrency, consistency: options.properties.consistency } },
      },
    },
    async (request, reply) => {
      const etag = ifMatch(request.headers['if-match']);
      await api.state.delete(callContext(deps, request), request.params.store, {
        key: request.params.key,
        etag,
        concurrency: request.query.concurrency,
      });
      return reply.code(204).send();
    },
  );

  server.post<{ Params: { store: string }; Body: { keys: string[]; parallelism?: number } }>(
    '/v1.0/state/:store/bulk',
    {
      config: { hearthApi: 'state.bulkGet' },
      preValidation: parseJson,
      schema: {
        params: storeParams,
        body: {
          type: 'object',
          required: ['keys'],
          properties: { keys: { type: 'array', items: { type: 'string' } }, parallelism: { type: 'integer', minimum: 0 }, metadata: stringMap },
        },
      },
    },
    async (request) => {
      const results = await api.state.bulkGet(callContext(deps, request), request.params.store, request.body.keys);
      return results.map((r) => {
        const item: { key: string; data?: unknown; etag?: string; error?: string } = { key: r.key };
        if (r.found) {
          item.data = decodeValue(r.value, r.contentType);
          item.etag = r.etag;
        }
        if (r.error) item.error = r.error;
        return item;
      });
    },
  );

  server.post<{ Params: { store: string }; Body: TransactionBody }>(
    '/v1.0/state/:store/transaction',
    {
      config: { hearthApi: 'state.transact' },
      preValidation: parseJson,
      schema: {
        params: storeParams,
        body: {
          type: 'object',
          required: ['operations'],
          properties: {
            operations: {
              type: 'array',
              items: {
                type: 'object',
                required: ['operation', 'request'],
                properties: {
                  operation: { type: 'string', enum: ['upsert', 'delete'] },
                  request: { type: 'object', required: ['key'], properties: stateItem.properties },
                },
                if: { properties: { operation: { const: 'upsert' } } },
                then: { properties: { request: { required: ['value'] } } },
              },
            },
            metadata: stringMap,
          },
        },
      },
    },
    async (request, reply) => {
      const queryMeta = queryMetadata(request.query);
      const ops = request.body.operations.map((op): TransactionOp =>
        op.operation === 'upsert' ? { type: 'upsert', ...toSaveItem(op.request, queryMeta) } : { type: 'delete', ...toDeleteItem(op.request) },
      );
      await api.state.transact(callContext(deps, request), request.params.store, ops);
      return reply.code(204).send();
    },
  );
}

/** Bulk results carry data inline: parsed JSON for JSON items (as Dapr does), text otherwise (JSON too deep included). */
export function decodeValue(value: Buffer, contentType: string): unknown {
  const text = value.toString('utf8');
  if ((contentType === '' || isJsonContentType(contentType)) && jsonDepthWithin(value)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}
