// Dapr's publish API, and a Hearth-only pull subscription (pull / ack / nack) for apps that speak
// only HTTP and so cannot hold the gRPC or wire subscription stream.
import type { FastifyInstance } from 'fastify';
import { jsonDepthWithin } from '../../../building-blocks/json-depth.js';
import type { Delivery } from '../../../building-blocks/runtime-api.js';
import { HearthError } from '../../../errors/hearth-error.js';
import type { TransportDeps } from '../../transport-deps.js';
import { callContext, isJsonContentType, jsonBody, queryMetadata, stringMetadata } from '../http-context.js';
import { toHttpError } from '../http-errors.js';
import { stringMap } from '../http-validation.js';

const MAX_WAIT_MS = 30_000;
const MAX_PULL = 1000;

const pubsubParams = (second: string) =>
  ({
    type: 'object',
    required: ['pubsub', second],
    properties: { pubsub: { type: 'string', minLength: 1 }, [second]: { type: 'string', minLength: 1 } },
  }) as const;

const topicParams = pubsubParams('topic');
const nameParams = pubsubParams('name');

const uint = { type: 'integer', minimum: 0, maximum: 0xffffffff } as const;

const pullBody = {
  type: 'object',
  properties: {
    subscription: { type: 'string', minLength: 1 },
    max: { type: 'integer', minimum: 1, maximum: MAX_PULL },
    waitMs: { type: 'integer', minimum: 0, maximum: MAX_WAIT_MS },
    ackDeadlineMs: uint,
    maxDeliveryAttempts: uint,
    deadLetterTopic: { type: 'string', minLength: 1 },
    durable: { type: 'boolean' },
  },
} as const;

interface PullBody {
  /** Keep the subscription as long as a streamed one (pubsub.subscriptionIdleSeconds) when unused. */
  durable?: boolean;
  subscription?: string;
  max?: number;
  waitMs?: number;
  ackDeadlineMs?: number;
  maxDeliveryAttempts?: number;
  deadLetterTopic?: string;
}

const deliveryIds = { type: 'array', minItems: 1, maxItems: MAX_PULL, items: { type: 'string', minLength: 1 } } as const;

interface RenderedDelivery {
  deliveryId: string;
  messageId: string;
  topic: string;
  pubsubName: string;
  attempt: number;
  contentType: string;
  metadata: Record<string, string>;
  data?: unknown;
  dataBase64?: string;
}

/**
 * JSON (and CloudEvents JSON) payloads inline as JSON; anything else, or nested deeper than
 * MAX_JSON_DEPTH, as base64: the response is serialised recursively, and one message's brackets
 * must not fail the whole pull (and send its neighbours back).
 */
export function renderDelivery(d: Delivery): RenderedDelivery {
  const out: RenderedDelivery = {
    deliveryId: d.deliveryId,
    messageId: d.messageId,
    topic: d.topic,
    pubsubName: d.pubsubName,
    attempt: d.attempt,
    contentType: d.contentType,
    metadata: { ...d.metadata },
  };
  if (isJsonContentType(d.contentType) && d.data.length > 0 && jsonDepthWithin(d.data)) {
    try {
      out.data = JSON.parse(d.data.toString('utf8')) as unknown;
      return out;
    } catch {
      // Declared JSON but is not: fall through to base64 rather than lose it.
    }
  }
  out.dataBase64 = d.data.toString('base64');
  return out;
}

interface BulkPublishEntry {
  entryId?: string;
  entryID?: string;
  event: unknown;
  contentType?: string;
  metadata?: Record<string, string | number | boolean> | null;
}

const bulkPublishBody = {
  type: 'array',
  minItems: 1,
  maxItems: 10_000,
  items: {
    type: 'object',
    required: ['event'],
    properties: {
      entryId: { type: 'string', maxLength: 256 },
      entryID: { type: 'string', maxLength: 256 },
      event: {},
      contentType: { type: 'string', maxLength: 256 },
      metadata: stringMap,
    },
  },
} as const;

/** Errors about the request itself, not one entry: answered as such when every entry met the same. */
const REQUEST_LEVEL = new Set(['HEARTH_ERR_TOPIC_NOT_ALLOWED', 'HEARTH_ERR_STORE_NOT_FOUND', 'HEARTH_ERR_NOT_FOUND', 'HEARTH_ERR_PERMISSION_DENIED', 'HEARTH_ERR_INVALID_ARGUMENT', 'HEARTH_ERR_RESOURCE_EXHAUSTED']);

/** An entry's event as the bytes to publish: a string as its text unless the content type is JSON, anything else as JSON. */
function eventBytes(event: unknown, contentType: string): Buffer {
  if (typeof event === 'string' && !isJsonContentType(contentType)) return Buffer.from(event, 'utf8');
  return Buffer.from(JSON.stringify(event) ?? 'null', 'utf8');
}

export function registerPubSubRoutes(server: FastifyInstance, deps: TransportDeps): void {
  const { api } = deps;
  const parseJson = jsonBody(server);
  const parseOptionalJson = jsonBody(server, { optional: true });

  server.post<{ Params: { pubsub: string; topic: string } }>(
    '/v1.0/publish/:pubsub/:topic',
    { config: { hearthApi: 'pubsub.publish' }, schema: { params: topicParams } },
    async (request, reply) => {
      const body = request.body;
      const data = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
      const metadata = queryMetadata(request.query);
      const traceparent = request.headers.traceparent;
      if (typeof traceparent === 'string' && metadata.traceparent === undefined) metadata.traceparent = traceparent;
      const tracestate = request.headers.tracestate;
      if (typeof tracestate === 'string' && metadata.tracestate === undefined) metadata.tracestate = tracestate;
      const messageId = await api.pubsub.publish(callContext(deps, request), {
        pubsubName: request.params.pubsub,
        topic: request.params.topic,
        data,
        contentType: request.headers['content-type'] ?? 'application/json',
        metadata,
      });
      return reply.code(204).header('hearth-message-id', messageId).send();
    },
  );

  // Dapr's bulk publish: every entry is published (in order); the answer is 204 when all were, else
  // 500 with the failed entries — unless every entry failed for the same reason the request itself
  // carries (no such pubsub, a topic the app may not use), which is answered as that error.
  server.post<{ Params: { pubsub: string; topic: string }; Body: BulkPublishEntry[] }>(
    '/v1.0-alpha1/publish/bulk/:pubsub/:topic',
    { config: { hearthApi: 'pubsub.publish_bulk' }, preValidation: parseJson, schema: { params: topicParams, body: bulkPublishBody } },
    async (request, reply) => {
      const ctx = callContext(deps, request);
      const shared = queryMetadata(request.query);
      const failed: { entryId: string; error: HearthError }[] = [];
      for (const entry of request.body) {
        const entryId = entry.entryId ?? entry.entryID ?? '';
        const contentType = entry.contentType ?? 'application/json';
        try {
          await api.pubsub.publish(ctx, {
            pubsubName: request.params.pubsub,
            topic: request.params.topic,
            data: eventBytes(entry.event, contentType),
            contentType,
            metadata: { ...shared, ...stringMetadata(entry.metadata) },
          });
        } catch (err) {
          failed.push({ entryId, error: toHttpError(err) });
        }
      }
      const first = failed[0];
      if (first === undefined) return reply.code(204).send();
      if (failed.length === request.body.length && REQUEST_LEVEL.has(first.error.code) && failed.every((f) => f.error.code === first.error.code)) throw first.error;
      // `entryId` is Dapr's field; @dapr/dapr 3.x reads `entryID`: both, so either client matches its entries.
      const failedEntries = failed.map((f) => ({ entryId: f.entryId, entryID: f.entryId, error: f.error.message, errorCode: f.error.code }));
      return reply.code(500).header('hearth-error-code', first.error.code).send({ errorCode: 'ERR_PUBSUB_PUBLISH_MESSAGE', message: `${failed.length} of ${request.body.length} entries were not published`, failedEntries });
    },
  );

  server.post<{ Params: { pubsub: string; name: string }; Body: PullBody }>(
    '/v1.0-hearth/subscriptions/:pubsub/:name/pull',
    { config: { hearthApi: 'pubsub.pull' }, preValidation: parseOptionalJson, schema: { params: nameParams, body: pullBody } },
    async (request) => {
      const b = request.body;
      const topic = request.params.name;
      const subscription = b.subscription ?? topic;
      const deliveries = await api.pubsub.pull(
        callContext(deps, request),
        {
          pubsubName: request.params.pubsub,
          topic,
          subscription,
          ackDeadlineMs: b.ackDeadlineMs || undefined,
          maxDeliveryAttempts: b.maxDeliveryAttempts || undefined,
          deadLetterTopic: b.deadLetterTopic,
          durable: b.durable === true,
        },
        b.max ?? 1,
        b.waitMs ?? 0,
      );
      return { subscription, deliveries: deliveries.map(renderDelivery) };
    },
  );

  // Every id is processed; when some fail the response is the first failure's code, with every
  // failed id listed in `details.failed` (the others were acked / nacked).
  const settle = async (ids: readonly string[], run: (id: string) => Promise<void>): Promise<void> => {
    const results = await Promise.allSettled(ids.map(run));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ deliveryId: ids[i]!, error: toHttpError(r.reason) }] : []));
    const first = failed[0];
    if (!first) return;
    const details = { failed: failed.map((f) => ({ deliveryId: f.deliveryId, errorCode: f.error.code, message: f.error.message })) };
    throw new HearthError(first.error.code, first.error.message, details, { cause: first.error });
  };

  server.post<{ Params: { pubsub: string; name: string }; Body: { deliveryIds: string[] } }>(
    '/v1.0-hearth/subscriptions/:pubsub/:name/ack',
    {
      config: { hearthApi: 'pubsub.ack' },
      preValidation: parseJson,
      schema: { params: nameParams, body: { type: 'object', required: ['deliveryIds'], properties: { deliveryIds } } },
    },
    async (request, reply) => {
      const ctx = callContext(deps, request);
      const { pubsub, name } = request.params;
      await settle(request.body.deliveryIds, (id) => api.pubsub.ack(ctx, pubsub, name, id));
      return reply.code(204).send();
    },
  );

  server.post<{ Params: { pubsub: string; name: string }; Body: { deliveryIds: string[]; delayMs?: number } }>(
    '/v1.0-hearth/subscriptions/:pubsub/:name/nack',
    {
      config: { hearthApi: 'pubsub.nack' },
      preValidation: parseJson,
      schema: {
        params: nameParams,
        body: {
          type: 'object',
          required: ['deliveryIds'],
          properties: { deliveryIds, delayMs: { type: 'integer', minimum: 0, maximum: 3_600_000 } },
        },
      },
    },
    async (request, reply) => {
      const ctx = callContext(deps, request);
      const { pubsub, name } = request.params;
      const delayMs = request.body.delayMs ?? 0;
      await settle(request.body.deliveryIds, (id) => api.pubsub.nack(ctx, pubsub, name, id, delayMs));
      return reply.code(204).send();
    },
  );
}
