// Hearth state get and save of 1 KB on the embedded SQLite store over http.sock (Dapr-compatible
// paths), open loop at the target rate; compared with the bare fastify echo. One scenario per
// operation, like state-grpc.ts.
import type { StateOp } from '../load/load-protocol.js';
import type { Scenario } from './scenario.js';

function stateHttp(op: StateOp): Scenario {
  return {
    kind: 'rate',
    id: `state-http-${op}`,
    title: `Hearth state ${op} over HTTP`,
    requires: ['floor', 'fastify-echo'],
    async rows(ctx) {
      const hearth = await ctx.env.hearth();
      return [{
        server: hearth,
        target: { kind: 'hearth-http', op, socketPath: hearth.httpSocket, token: hearth.token, payloadBytes: ctx.settings.payloadBytes },
        meta: { id: `hearth-http-${op}`, scenario: `Hearth state ${op} 1 KB (SQLite)`, transport: 'HTTP', baselineId: 'fastify-echo' },
      }];
    },
  };
}

export const stateHttpScenarios: Scenario[] = [stateHttp('get'), stateHttp('save')];
