// Dapr's metadata API and health checks. Health is served without a token so probes need none.
import type { FastifyInstance } from 'fastify';
import { HearthError } from '../../../errors/hearth-error.js';
import type { TransportDeps } from '../../transport-deps.js';
import { callContext } from '../http-context.js';

export function registerMetadataRoutes(server: FastifyInstance, deps: TransportDeps, isClosing: () => boolean): void {
  server.get('/v1.0/metadata', { config: { hearthApi: 'metadata.get' } }, async (request) => {
    const m = deps.api.metadata.get(callContext(deps, request));
    // Dapr's shape (id, runtimeVersion, components, extended as a string map) plus Hearth's ACL view.
    return {
      id: m.appId,
      runtimeVersion: m.runtimeVersion,
      enabledFeatures: [],
      components: m.components.map((c) => ({ name: c.name, type: c.type, version: c.version, capabilities: [...c.capabilities] })),
      subscriptions: [],
      extended: { generation: String(m.generation), runtime: 'hearth' },
      allowedTopics: [...m.allowedTopics],
      allowedApps: [...m.allowedApps],
    };
  });

  // 204 while serving; 503 HEARTH_ERR_DRAINING once this generation drains, so probes and the
  // SDK move to the successor.
  for (const url of ['/v1.0/healthz', '/v1.0/healthz/outbound']) {
    server.get(url, { config: { hearthPublic: true } }, async (_request, reply) => {
      if (isClosing()) throw new HearthError('HEARTH_ERR_DRAINING');
      return reply.code(204).send();
    });
  }
}
