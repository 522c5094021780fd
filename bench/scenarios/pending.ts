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
  pending('failover', 'failover time to a sibling agent', '#5', 'SDK failover; budget: ≤ 1 s'),
];
