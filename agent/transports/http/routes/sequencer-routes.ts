// Hearth-only sequencer (Layotto's GetNextId): ids strictly increasing per key.
import type { FastifyInstance } from 'fastify';
import type { TransportDeps } from '../../transport-deps.js';
import { callContext } from '../http-context.js';

export function registerSequencerRoutes(server: FastifyInstance, deps: TransportDeps): void {
  server.post<{ Params: { store: string; key: string } }>(
    '/v1.0-hearth/sequencer/:store/:key',
    {
      config: { hearthApi: 'sequencer.next' },
      schema: {
        params: {
          type: 'object',
          required: ['store', 'key'],
          properties: { store: { type: 'string', minLength: 1 }, key: { type: 'string' } },
        },
      },
    },
    async (request) => {
      const next = await deps.api.sequencer.next(callContext(deps, request), request.params.store, request.params.key);
      // int64 as a decimal string, as the proto3 JSON mapping does: JSON numbers lose precision past 2^53.
      return { nextId: next.toString() };
    },
  );
}
