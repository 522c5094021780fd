// The bare fastify baseline for the HTTP rows: POST /echo returns the body, on a Unix socket.
import Fastify from 'fastify';
import type { RunningServer } from './raw-echo-server.js';

export async function startFastifyEchoServer(socketPath: string): Promise<RunningServer> {
  const app = Fastify({ logger: false });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/echo', async (request, reply) => reply.type('application/octet-stream').send(request.body));
  await app.listen({ path: socketPath });
  return { close: () => app.close() };
}
