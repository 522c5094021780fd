// Floor: a raw Unix-socket echo of length-prefixed 1 KB frames, in its own process. The round trip
// every agent call is compared with (budget: a wire state get within 3× of it).
import type { Scenario } from './scenario.js';

export const floorScenario: Scenario = {
  kind: 'rate',
  id: 'floor',
  title: 'floor: raw Unix-socket echo',
  requires: [],
  async rows(ctx) {
    const server = await ctx.env.baseline('raw-echo');
    return [{
      server,
      target: { kind: 'raw-echo', socketPath: server.socketPath, payloadBytes: ctx.settings.payloadBytes },
      meta: { id: 'floor', scenario: 'floor: raw socket echo 1 KB', transport: 'unix', baselineId: null },
    }];
  },
};
