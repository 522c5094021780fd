// Rows that later issues fill in: listed in every report as not run, with the issue that adds
// them, so the table shows the whole suite from the start.
import type { Scenario } from './scenario.js';

function pending(id: string, scenario: string, issue: string, note: string): Scenario {
  return {
    kind: 'custom',
    id,
    title: `${scenario} (pending ${issue})`,
    requires: [],
    async run() {
      return [{ kind: 'pending', id, scenario, issue, note }];
    },
  };
}

export const pendingScenarios: Scenario[] = [
  pending('state-wire', 'state get/save 1 KB over the wire transport', '#5',
    'wire.sock and its framed protocol land with the SDK; budget: get within 3× the floor'),
  pending('invoke', 'two-agent invoke vs direct app-to-app, 1 KB, 1,000 req/s, 16 connections', '#5',
    'service invocation over wire and gRPC; budget: added p50 ≤ 0.2 ms, p99 ≤ 1 ms'),
  pending('failover', 'failover time to a sibling agent', '#5', 'SDK failover; budget: ≤ 1 s'),
];
