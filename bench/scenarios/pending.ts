// Rows that later issues fill in: listed in every report as not run, with the issue that adds
// them, so the table shows the whole suite from the start.
import type { Scenario } from './scenario.js';

export function pending(id: string, scenario: string, issue: string, note: string): Scenario {
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

/** None today: #5 filled in the last ones (state-wire, invoke, failover). */
export const pendingScenarios: Scenario[] = [];
