// Closed-loop maximum throughput of a state get (gRPC and HTTP), reported per agent worker, beside
// the same closed loop against the bare grpc-js and fastify echo servers (one process each).
import { ECHO_PROTO } from '../harness/baseline-process.js';
import type { Row } from '../report/report-types.js';
import { measureClosedLoop } from './measure.js';
import type { Scenario } from './scenario.js';
import { PROTO_ROOT } from './state-grpc.js';

export const maxThroughputScenario: Scenario = {
  kind: 'custom',
  id: 'max-throughput',
  title: 'closed-loop maximum throughput of state get',
  requires: [],
  async run(ctx) {
    const payloadBytes = ctx.settings.payloadBytes;
    const rows: Row[] = [];
    const grpcEcho = await ctx.env.baseline('grpc-echo');
    rows.push(await measureClosedLoop(ctx, grpcEcho,
      { kind: 'grpc-echo', socketPath: grpcEcho.socketPath, protoPath: ECHO_PROTO, payloadBytes },
      { id: 'max-grpc-echo', scenario: 'max throughput: bare grpc-js echo', transport: 'gRPC', baselineId: null }, 1));
    const fastifyEcho = await ctx.env.baseline('fastify-echo');
    rows.push(await measureClosedLoop(ctx, fastifyEcho,
      { kind: 'http-echo', socketPath: fastifyEcho.socketPath, payloadBytes },
      { id: 'max-fastify-echo', scenario: 'max throughput: bare fastify echo', transport: 'HTTP', baselineId: null }, 1));
    const hearth = await ctx.env.hearth();
    rows.push(await measureClosedLoop(ctx, hearth,
      { kind: 'hearth-grpc', op: 'get', storeName: 'default', socketPath: hearth.grpcSocket, protoRoot: PROTO_ROOT, token: hearth.token, payloadBytes },
      { id: 'max-hearth-grpc-get', scenario: 'max throughput: Hearth state get', transport: 'gRPC', baselineId: 'max-grpc-echo' },
      hearth.workers));
    rows.push(await measureClosedLoop(ctx, hearth,
      { kind: 'hearth-http', op: 'get', socketPath: hearth.httpSocket, token: hearth.token, payloadBytes },
      { id: 'max-hearth-http-get', scenario: 'max throughput: Hearth state get', transport: 'HTTP', baselineId: 'max-fastify-echo' },
      hearth.workers));
    return rows;
  },
};
