// Baseline for the HTTP rows: a bare fastify POST /echo of 1 KB on a Unix socket, in its own process.
import { measureOpenLoop } from './measure.js';
import type { Scenario } from './scenario.js';

export const fastifyEchoScenario: Scenario = {
  id: 'fastify-echo',
  title: 'baseline: bare fastify echo',
  requires: ['floor'],
  async run(ctx) {
    const server = await ctx.env.baseline('fastify-echo');
    return [await measureOpenLoop(ctx, server,
      { kind: 'http-echo', socketPath: server.socketPath, payloadBytes: ctx.settings.payloadBytes },
      { id: 'fastify-echo', scenario: 'baseline: bare fastify echo 1 KB', transport: 'HTTP', baselineId: 'floor' })];
  },
};
