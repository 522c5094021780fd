// Hearth state get and save of 1 KB on the embedded SQLite store over http.sock (Dapr-compatible
// paths), open loop at the target rate; compared with the bare fastify echo.
import type { StateOp } from '../load/load-protocol.js';
import type { Row } from '../report/report-types.js';
import { measureOpenLoop } from './measure.js';
import type { Scenario } from './scenario.js';

export const stateHttpScenario: Scenario = {
  id: 'state-http',
  title: 'Hearth state get/save over HTTP',
  requires: ['floor', 'fastify-echo'],
  async run(ctx) {
    const hearth = await ctx.env.hearth();
    const rows: Row[] = [];
    for (const op of ['get', 'save'] satisfies StateOp[]) {
      rows.push(await measureOpenLoop(ctx, hearth, {
        kind: 'hearth-http', op, socketPath: hearth.httpSocket, token: hearth.token, payloadBytes: ctx.settings.payloadBytes,
      }, { id: `hearth-http-${op}`, scenario: `Hearth state ${op} 1 KB (SQLite)`, transport: 'HTTP', baselineId: 'fastify-echo' }));
    }
    return rows;
  },
};
