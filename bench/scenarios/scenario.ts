// A scenario produces report rows; each is one file in this folder, listed in registry.ts.
import type { CleanupStack } from '../harness/cleanup-stack.js';
import type { BenchEnvironment } from '../harness/bench-environment.js';
import type { Row, RunSettings } from '../report/report-types.js';

export interface ScenarioContext {
  settings: RunSettings;
  env: BenchEnvironment;
  cleanup: CleanupStack;
  /** Progress line to stderr. */
  log: (message: string) => void;
}

export interface Scenario {
  /** Used by `--only`. */
  id: string;
  title: string;
  /** Scenario ids whose rows this one is compared with (run first, added by `--only`). */
  requires: string[];
  run(ctx: ScenarioContext): Promise<Row[]>;
}
