// Dapr's metadata API and health checks. Health is served without a token so probes need none.
import type { FastifyInstance } from 'fastify';
import { HearthError } from '../../../errors/hearth-error.js';
import type { TransportDeps } from '../../transport-deps.js';
import { callContext } from '../http-context.js';

export function registerMetadataRoutes(server: FastifyInstance, deps: TransportDeps, isClosing: () => boolean): void {
  server.get('/v1.0/metadata', { config: { hearthApi: 'metadata.get' } }, async (request) => {
    const ctx = callContext(deps, request);
    const m = deps.api.metadata.get(ctx);
    const attributes = await deps.api.metadata.attributes(ctx);
    // Dapr's shape (id, runtimeVersion, components, extended as a string map) plus Hearth's ACL view.
    return {
      id: m.appId,
      runtimeVersion: m.runtimeVersion,
      enabledFeatures: [],
      components: m.components.map((c) => ({ name: c.name, type: c.type, version: c.version, capabilities: [...c.capabilities] })),
      subscriptions: [],
      extended: { ...attributes, generation: String(m.generation), runtime: 'hearth' },
      allowedTopics: [...m.allowedTopics],
      allowedApps: [...m.allowedApps],
    };
  });

  // Dapr's SetMetadata: an attribute of the calling app, shown under `extended` (body: the value as text).
  server.put<{ Params: { key: string } }>('/v1.0/metadata/:key', { config: { hearthApi: 'metadata.set' } }, async (request, reply) => {
    const body = request.body;
    const value = Buffer.isBuffer(body) ? body.toString('utf8') : '';
    await deps.api.metadata.setAttribute(callContext(deps, request), request.params.key, value);
    return reply.code(204).send();
  });

  // Dapr's Shutdown asks the sidecar to stop. This agent serves every app on the host: it answers
  // as Dapr does and keeps running (the request is logged).
  server.post('/v1.0/shutdown', { config: { hearthApi: 'metadata.shutdown' } }, async (request, reply) => {
    request.log.info({ app: deps.app.id }, 'the app asked the agent to shut down: ignored, the agent is shared by every app on this host');
    return reply.code(204).send();
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
