// Baseline for the gRPC rows: a bare grpc-js unary echo of 1 KB bytes on a Unix socket, in its own
// process (budget: a Hearth gRPC state get within 1.25× of it).
import { ECHO_PROTO } from '../harness/baseline-process.js';
import type { Scenario } from './scenario.js';

export const grpcEchoScenario: Scenario = {
  kind: 'rate',
  id: 'grpc-echo',
  title: 'baseline: bare grpc-js echo',
  requires: ['floor'],
  async rows(ctx) {
    const server = await ctx.env.baseline('grpc-echo');
    return [{
      server,
      target: { kind: 'grpc-echo', socketPath: server.socketPath, protoPath: ECHO_PROTO, payloadBytes: ctx.settings.payloadBytes },
      meta: { id: 'grpc-echo', scenario: 'baseline: bare grpc-js echo 1 KB', transport: 'gRPC', baselineId: 'floor' },
    }];
  },
};
