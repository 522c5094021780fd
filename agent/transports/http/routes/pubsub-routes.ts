// Dapr's publish API, and a Hearth-only pull subscription (pull / ack / nack) for apps that speak
// only HTTP and so cannot hold the gRPC or wire subscription stream.
import type { FastifyInstance } from 'fastify';
import { jsonDepthWithin } from '../../../building-blocks/json-depth.js';
import type { Delivery } from '../../../building-blocks/runtime-api.js';
import { HearthError } from '../../../errors/hearth-error.js';
import type { TransportDeps } from '../../transport-deps.js';
import { callContext, isJsonContentType, jsonBody, queryMetadata } from '../http-context.js';
import { toHttpError } from '../http-errors.js';

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
