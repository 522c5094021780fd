// Hearth state get and save of 1 KB on the embedded SQLite store over grpc.sock, open loop at the
// target rate; compared with the bare grpc-js echo. One scenario per operation, so that
// `--only state-grpc-get --profile` profiles one code path.
import path from 'node:path';
import { repoRoot } from '../../test/support/repo-root.js';
import type { StateOp } from '../load/load-protocol.js';
import type { Scenario } from './scenario.js';

export const PROTO_ROOT = path.join(repoRoot, 'proto');

function stateGrpc(op: StateOp): Scenario {
  return {
    kind: 'rate',
    id: `state-grpc-${op}`,
    title: `Hearth state ${op} over gRPC`,
    requires: ['floor', 'grpc-echo'],
    async rows(ctx) {
      const hearth = await ctx.env.hearth();
      return [{
        server: hearth,
        target: {
          kind: 'hearth-grpc', op, storeName: 'default', socketPath: hearth.grpcSocket, protoRoot: PROTO_ROOT, token: hearth.token,
          payloadBytes: ctx.settings.payloadBytes,
        },
        meta: { id: `hearth-grpc-${op}`, scenario: `Hearth state ${op} 1 KB (SQLite)`, transport: 'gRPC', baselineId: 'grpc-echo' },
      }];
    },
  };
}

export const stateGrpcScenarios: Scenario[] = [stateGrpc('get'), stateGrpc('save')];
