// Baseline for the HTTP rows: a bare fastify POST /echo of 1 KB on a Unix socket, in its own process.
import type { Scenario } from './scenario.js';

export const fastifyEchoScenario: Scenario = {
  kind: 'rate',
  id: 'fastify-echo',
  title: 'baseline: bare fastify echo',
  requires: ['floor'],
  async rows(ctx) {
    const server = await ctx.env.baseline('fastify-echo');
    return [{
      server,
      target: { kind: 'http-echo', socketPath: server.socketPath, payloadBytes: ctx.settings.payloadBytes },
      meta: { id: 'fastify-echo', scenario: 'baseline: bare fastify echo 1 KB', transport: 'HTTP', baselineId: 'floor' },
    }];
  },
};
