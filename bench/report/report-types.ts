// The shape of a benchmark run: the rows scenarios produce, the budgets evaluated over them, and
// the machine they ran on. Written as JSON next to the markdown report.
import type { UsageResult } from '../harness/usage-monitor.js';
import type { ProfileSummary } from './cpu-profile-summary.js';
import type { LatencySummary } from '../load/load-protocol.js';

export interface LatencyRow {
  kind: 'latency';
  /** Stable id (budgets and baselines refer to rows by it). */
  id: string;
  scenario: string;
  transport: string;
  mode: 'open' | 'closed';
  /** Row whose percentiles this row's "added" columns subtract (same run). */
  baselineId: string | null;
  /** Open loop: requests/s asked for; closed loop: null. */
  targetRate: number | null;
  /** Closed loop: requests in flight; open loop: null. */
  concurrency: number | null;
  connections: number;
  achievedRate: number;
  /** Closed loop against Hearth: achievedRate ÷ agent workers. */
  perWorkerRate: number | null;
  requests: number;
  errors: number;
  latencyMs: LatencySummary;
  /** Open loop: how late the generator sent requests (its own health), ms. */
  sendLagMs: { p50: number; p99: number; max: number } | null;
  /** CPU of the load generator process over the window, % of one core. */
  generatorCpuPercent: number;
  /** The machine's 1-minute load average when the row ended (other work on a shared machine). */
  loadAverage1m: number;
  server: UsageResult;
  errorSamples: string[];
  /** Failed requests by error code (HEARTH_ERR_*, `grpc <status>`, `other`), when the row counted them. */
  errorCodes?: Record<string, number>;
  /** Open loop in interleaved rounds: each round's own figures (round i of every row ran back to back). */
  rounds?: RoundFigures[];
  /** Rows measured across hot upgrades (scenarios/upgrade-under-load.ts). */
  upgrade?: UpgradeFigures;
}

/** What a row measured across hot upgrades adds: each hand-off and the memory of both generations. */
export interface UpgradeFigures {
  upgrades: {
    version: string;
    result: 'ok' | 'failed';
    /** New generation ready → old generation exited (the agent's own figure). */
    handoffMs: number | null;
    phases: Record<string, number>;
    /** Highest total RSS (ops-agent + every worker) sampled during this upgrade, and its split. */
    peakRssMb: number;
    peakPrimaryMb: number;
    peakOldGenerationMb: number;
    peakNewGenerationMb: number;
    ms: number;
  }[];
  /** Mean total RSS under the same load before the first upgrade. */
  steadyRssMb: number;
  peakRssMb: number;
  /** Share of the load window spent inside an upgrade. */
  upgradeShare: number;
}

export interface RoundFigures {
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  sendLagP99: number | null;
  loadAverage1m: number;
}

export interface MemoryRow {
  kind: 'memory';
  id: string;
  scenario: string;
  transport: string;
  connections: number;
  opened: number;
  errors: number;
  /** Sum over ops-agent + workers, fresh agent, idle. */
  rssBeforeMb: number;
  /** Sum over ops-agent + workers while holding the connections. */
  rssAfterMb: number;
  perConnectionKb: number;
  workerRssIdleMb: number[];
  workerRssWithConnectionsMb: number[];
  /** Proportional set size (shared pages split between processes), for context beside RSS. */
  workerPssIdleMb: number[];
  workerPssWithConnectionsMb: number[];
  errorSamples: string[];
}

/** One process (or the largest of a set) at rest: the memory floor. */
export interface ProcessMemoryRow {
  kind: 'process-memory';
  id: string;
  scenario: string;
  processes: number;
  rssMb: number;
  pssMb: number;
}

export interface PendingRow {
  kind: 'pending';
  id: string;
  scenario: string;
  /** The issue that adds it, e.g. "#4". */
  issue: string;
  note: string;
}

/** One kill -9 of the local agent and what the app saw (scenarios/failover.ts). */
export interface FailoverRepetition {
  /** kill -9 of host 1's process group → completion of the app's first successful call via host 2. */
  firstSuccessMs: number | null;
  /** The SDK's own figure: first sign of trouble → switch (its failover event). */
  detectionMs: number | null;
  /** kill -9 → the SDK's failover event. */
  switchMs: number | null;
  reason: string;
  /** Calls issued from the kill until the first success, and how many of them failed (by code). */
  calls: number;
  failed: number;
  errorCodes: Record<string, number>;
}

export interface FailoverRow {
  kind: 'failover';
  id: string;
  scenario: string;
  /** Interval between the app's calls during the run (steady load), ms. */
  callIntervalMs: number;
  repetitions: FailoverRepetition[];
  /** Over the repetitions that switched: smallest, median and largest firstSuccessMs. */
  minMs: number | null;
  medianMs: number | null;
  maxMs: number | null;
  errorSamples: string[];
}

/** An open-loop row that could not be measured on this machine, and why (a program not installed). */
export interface SkippedRow {
  kind: 'skipped';
  id: string;
  scenario: string;
  transport: string;
  /** The rate it would have run at, requests/s. */
  targetRate: number;
  reason: string;
}

export type Row = LatencyRow | MemoryRow | ProcessMemoryRow | PendingRow | FailoverRow | SkippedRow;

export type BudgetStatus = 'met' | 'MISSED' | 'pending' | 'not run';

export interface BudgetResult {
  id: string;
  text: string;
  status: BudgetStatus;
  detail: string;
  /** Rows the budget is judged on (their budget column shows it). */
  rowIds: string[];
  /** Per-row verdicts where each row is judged on its own figures (memory rows). */
  perRow?: Record<string, { status: BudgetStatus; detail: string }>;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGb: number;
  node: string;
  os: string;
  commit: string;
  /** Uncommitted changes in the tree when the run started. */
  dirty: boolean;
  date: string;
  loadAverageStart: number[];
  loadAverageEnd: number[];
}

export interface RunSettings {
  quick: boolean;
  only: string[] | null;
  rate: number;
  /** Measured time per open-loop row, split into `rounds` interleaved rounds. */
  durationMs: number;
  rounds: number;
  warmupMs: number;
  connections: number;
  payloadBytes: number;
  closedConcurrency: number;
  closedDurationMs: number;
  idleConnections: number;
  /** Run the shared Hearth under `node --cpu-prof` (latencies of such a run are not comparable). */
  profile: boolean;
}

export interface BenchReport {
  machine: MachineInfo;
  settings: RunSettings;
  startedAt: string;
  finishedAt: string;
  rows: Row[];
  budgets: BudgetResult[];
  /** Scenarios that failed, with why (their rows are missing). */
  failures: { scenario: string; error: string }[];
  /** With `--profile`: what the shared Hearth's processes spent CPU on. */
  profiles: ProfileSummary[];
}
