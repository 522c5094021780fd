// Hearth state get and save of 1 KB on the embedded SQLite store over wire.sock (issue #5), open
// loop at the target rate; compared with the floor, the raw Unix-socket echo of the same run
// (budget: a get within 3× of it). The client is the bare frame codec (clients/wire-link.ts), not
// the SDK client, so the rows measure the transport.
import type { StateOp } from '../load/load-protocol.js';
import type { RateRowSpec, Scenario } from './scenario.js';

const OPS: readonly StateOp[] = ['get', 'save'];

export const stateWireScenario: Scenario = {
  kind: 'rate',
  id: 'state-wire',
  title: 'Hearth state get/save over the wire transport (wire.sock) vs the floor',
  requires: ['floor'],
  async rows(ctx) {
    const hearth = await ctx.env.hearth();
    return OPS.map((op): RateRowSpec => ({
      server: hearth,
      target: { kind: 'hearth-wire', op, storeName: 'default', socketPath: hearth.wireSocket, token: hearth.token, payloadBytes: ctx.settings.payloadBytes },
      meta: { id: `hearth-wire-${op}`, scenario: `Hearth state ${op} 1 KB (SQLite)`, transport: 'wire', baselineId: 'floor' },
    }));
  },
};
