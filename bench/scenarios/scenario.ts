// A scenario produces report rows; each is one file in this folder, listed in registry.ts.
// Fixed-rate latency rows are declared (`kind: 'rate'`) rather than run, so the runner can
// interleave them in rounds: on a shared machine a burst of someone else's work then lands on every
// row and its baseline alike, instead of on whichever row happened to be running.
import type { BenchEnvironment } from '../harness/bench-environment.js';
import type { CleanupStack } from '../harness/cleanup-stack.js';
import type { ServerUnderTest } from '../harness/usage-monitor.js';
import type { TargetSpec } from '../load/load-protocol.js';
import type { Row, RunSettings, SkippedRow } from '../report/report-types.js';

export interface ScenarioContext {
  settings: RunSettings;
  env: BenchEnvironment;
  cleanup: CleanupStack;
  /** Progress line to stderr. */
  log: (message: string) => void;
}

export interface RowMeta {
  id: string;
  scenario: string;
  transport: string;
  /** Row whose percentiles the "added" columns subtract (same run), or null. */
  baselineId: string | null;
}

/** One open-loop latency row: what to load, and whose CPU/RSS to sample. */
export interface RateRowSpec {
  server: ServerUnderTest;
  target: TargetSpec;
  meta: RowMeta;
  /** Requests per second of this row when it has its own (the anchors: 300 and 1,000); default `--rate`. */
  rate?: number;
}

interface ScenarioBase {
  /** Used by `--only`. */
  id: string;
  title: string;
  /** Scenario ids whose rows this one is compared with (run first, added by `--only`). */
  requires: string[];
}

/** Open-loop rows at the target rate; the runner measures them (interleaved in rounds). */
export interface RateScenario extends ScenarioBase {
  kind: 'rate';
  /**
   * Starts (or reuses) the servers and declares the rows; a row whose prerequisite is missing
   * (a program not installed) is declared skipped, and the report shows it with the reason.
   */
  rows(ctx: ScenarioContext): Promise<(RateRowSpec | SkippedRow)[]>;
}

/** Anything else (closed loop, memory, placeholders): runs itself and returns its rows. */
export interface CustomScenario extends ScenarioBase {
  kind: 'custom';
  run(ctx: ScenarioContext): Promise<Row[]>;
}

export type Scenario = RateScenario | CustomScenario;
