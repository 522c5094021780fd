// Dapr's configuration API (GET only; Dapr's subscribe registers an app callback, which Hearth
// does not do) plus a Hearth-only Server-Sent Events subscription for HTTP-only apps.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ConfigurationItems } from '../../../components/configuration-store.js';
import { ERROR_CATALOG } from '../../../errors/error-catalog.js';
import { HearthError } from '../../../errors/hearth-error.js';
import type { TransportDeps } from '../../transport-deps.js';
import { callContext, holdStream } from '../http-context.js';
import type { SseRegistry, SseStream } from '../http-sse.js';
import { storeParams } from '../http-validation.js';

const keysQuery = {
  type: 'object',
  properties: { key: { type: 'array', items: { type: 'string' } } },
} as const;

interface KeysQuery {
  key?: string[];
}

interface RenderedItem {
  value: string;
  version: string;
  metadata: Record<string, string>;
  deleted?: true;
}

function render(items: ConfigurationItems, withDeleted: boolean): Record<string, RenderedItem> {
  const out: Record<string, RenderedItem> = {};
  for (const [key, item] of Object.entries(items)) {
    if (item.deleted === true && !withDeleted) continue;
    const r: RenderedItem = { value: item.value, version: item.version, metadata: { ...item.metadata } };
    if (item.deleted === true) r.deleted = true;
    out[key] = r;
  }
  return out;
}

export function registerConfigurationRoutes(server: FastifyInstance, deps: TransportDeps, sse: SseRegistry, isClosing: () => boolean): void {
  const { api } = deps;

  for (const prefix of ['/v1.0', '/v1.0-alpha1']) {
    server.get<{ Params: { store: string }; Querystring: KeysQuery }>(
      `${prefix}/configuration/:store`,
      { config: { hearthApi: 'configuration.get' }, schema: { params: storeParams, querystring: keysQuery } },
      async (request) => {
        const items = await api.configuration.get(callContext(deps, request), request.params.store, request.query.key ?? []);
        return render(items, false);
      },
    );
  }

  // Events: `configuration` with `{ id, items }` — the current items first, then each change
  // (removed keys carry `deleted: true`); `close` with a coded body when the agent drains.
  server.get<{ Params: { store: string }; Querystring: KeysQuery }>(
    '/v1.0-hearth/configuration/:store/subscribe',
    { config: { hearthApi: 'configuration.subscribe' }, schema: { params: storeParams, querystring: keysQuery } },
    async (request, reply) => {
      if (isClosing()) throw new HearthError('HEARTH_ERR_DRAINING');
      const id = randomUUID();
      holdStream(deps, request);
      const ctx = callContext(deps, request);
      // Changes that arrive before the stream exists (the initial items) wait here.
      const pending: ConfigurationItems[] = [];
      const sink: { stream?: SseStream } = {};
      const onChange = (items: ConfigurationItems): void => {
        if (sink.stream) sink.stream.send('configuration', { id, items: render(items, true) });
        else pending.push(items);
      };
      // Errors (unknown store, not allowed) surface here as an ordinary coded JSON response.
      const unsubscribe = await api.configuration.subscribe(ctx, request.params.store, request.query.key ?? [], onChange);
      if (isClosing()) {
        unsubscribe();
        throw new HearthError('HEARTH_ERR_DRAINING');
      }
      const stream = sse.open(() => {
        unsubscribe();
        ctx.logger.debug({ subscription: id }, 'configuration stream closed');
      });
      for (const items of pending) stream.send('configuration', { id, items: render(items, true) });
      sink.stream = stream;
      return stream.attach(reply);
    },
  );
}

export const DRAINING_EVENT = {
  errorCode: 'HEARTH_ERR_DRAINING',
  message: ERROR_CATALOG.HEARTH_ERR_DRAINING.message,
} as const;
