// Noisy neighbour (issue #5, per-app quotas): one agent, two apps on the wire transport. The quiet
// app runs 1 KB state gets open loop at the target rate; the noisy app floods state gets closed
// loop (the closed-loop concurrency, 32 by default) far past its quota (NOISY_QUOTA per worker).
// Measured in paired rounds, each round once without the flood and once with it, the order
// alternating, so drift on the shared machine falls on both alike. Reported: the quiet app's
// latency alone and beside the flood (budget: its p99 rises ≤ 20 %, judged on the median of the
// per-round p99 ratios), and the flood's outcome by error code (RESOURCE_EXHAUSTED: refused by
// its quota). The flood's generator runs on the same two cores, as another app on the host would.
import os from 'node:os';
import { startHearth, type HearthApp, type HearthInstance } from '../harness/hearth-instance.js';
import type { UsageResult } from '../harness/usage-monitor.js';
import { runLoad } from '../load/load-generator.js';
import type { LoadResult, TargetSpec } from '../load/load-protocol.js';
import { mergeLoadResults, mergeUsage } from '../load/merge-results.js';
import type { LatencyRow, RoundFigures } from '../report/report-types.js';
import { logResult, measured, openLoopRow } from './measure.js';
import type { Scenario, ScenarioContext } from './scenario.js';

const QUIET: HearthApp = { id: 'quiet', token: 'bench-token-quiet' };
/**
 * Per worker process (quotas are enforced per worker): 100 req/s and 4 calls in flight, so with 2
 * workers the noisy app is admitted at most a fifth of the quiet app's rate — the row measures
 * what refusing the rest of the flood costs the quiet app, not what serving a second full load
 * does. (At 500 req/s and 8 in flight the admitted flood alone matched the quiet app's load.)
 */
const NOISY_QUOTA = { maxInFlight: 4, requestsPerSecond: 100, burstSeconds: 1 };
const NOISY: HearthApp = { id: 'noisy', token: 'bench-token-noisy', quota: NOISY_QUOTA };
const DRAIN_TIMEOUT_MS = 10_000;
const LATER_ROUND_WARMUP_MS = 1_000;
/** The flood runs this long before the quiet app's load starts, and until after it ends. */
const FLOOD_LEAD_MS = 500;
const FLOOD_TAIL_MS = 1_500;

export const QUIET_ALONE_ID = 'noisy-quiet-alone';
export const QUIET_FLOODED_ID = 'noisy-quiet-flooded';
export const FLOOD_ID = 'noisy-flood';

function target(hearth: HearthInstance, app: HearthApp, payloadBytes: number): TargetSpec {
  return { kind: 'hearth-wire', op: 'get', storeName: 'default', socketPath: hearth.socket(app.id, 'wire'), token: app.token, payloadBytes };
}

interface Acc {
  results: LoadResult[];
  usages: UsageResult[];
  rounds: RoundFigures[];
}

const figures = (result: LoadResult): RoundFigures => ({
  p50: result.latency.p50, p99: result.latency.p99, requests: result.requests, errors: result.errors,
  sendLagP99: result.sendLag?.p99 ?? null, loadAverage1m: os.loadavg()[0] ?? 0,
});

async function quietRound(ctx: ScenarioContext, hearth: HearthInstance, warmupMs: number, roundMs: number, acc: Acc, label: string): Promise<void> {
  const s = ctx.settings;
  const { result, usage } = await measured(hearth, (onPhase) => runLoad({
    type: 'open-loop', target: target(hearth, QUIET, s.payloadBytes), rate: s.rate, warmupMs, durationMs: roundMs,
    connections: s.connections, drainTimeoutMs: DRAIN_TIMEOUT_MS,
  }, ctx.cleanup, onPhase));
  acc.results.push(result);
  acc.usages.push(usage);
  acc.rounds.push(figures(result));
  logResult(ctx, label, result, usage);
}

/** The quiet round with the flood running from FLOOD_LEAD_MS before it until after it. */
async function floodedRound(ctx: ScenarioContext, hearth: HearthInstance, warmupMs: number, roundMs: number, acc: Acc,
  flood: LoadResult[], label: string): Promise<void> {
  const s = ctx.settings;
  let started: () => void = () => undefined;
  const measuring = new Promise<void>((resolve) => {
    started = resolve;
  });
  const flooding = runLoad({
    type: 'closed-loop', target: target(hearth, NOISY, s.payloadBytes), concurrency: s.closedConcurrency,
    warmupMs: FLOOD_LEAD_MS, durationMs: warmupMs + roundMs + FLOOD_TAIL_MS, drainTimeoutMs: DRAIN_TIMEOUT_MS,
  }, ctx.cleanup, (phase) => {
    if (phase === 'measuring') started();
  });
  try {
    await Promise.race([measuring, flooding]);
    await quietRound(ctx, hearth, warmupMs, roundMs, acc, label);
  } finally {
    const result = await flooding;
    flood.push(result);
    ctx.log(`[${FLOOD_ID}] ${result.requests} requests, ${result.achievedRate.toFixed(0)} ok/s, refused by code: ${JSON.stringify(result.errorCodes ?? {})}`);
  }
}

function rowOf(ctx: ScenarioContext, id: string, scenario: string, baselineId: string | null, acc: Acc): LatencyRow {
  const meta = { id, scenario, transport: 'wire', baselineId };
  return { ...openLoopRow(ctx, meta, mergeLoadResults(acc.results), mergeUsage(acc.usages)), rounds: acc.rounds };
}

function floodRow(ctx: ScenarioContext, flood: LoadResult[], usage: UsageResult): LatencyRow {
  const r = mergeLoadResults(flood);
  const refused = r.errorCodes?.HEARTH_ERR_RESOURCE_EXHAUSTED ?? 0;
  return {
    kind: 'latency', id: FLOOD_ID, transport: 'wire', mode: 'closed', baselineId: null, targetRate: null,
    scenario: `noisy app: state get flood, ${ctx.settings.closedConcurrency} in flight, quota ${NOISY_QUOTA.requestsPerSecond} req/s and `
      + `${NOISY_QUOTA.maxInFlight} in flight per worker — ${refused.toLocaleString('en-US')} of ${r.requests.toLocaleString('en-US')} `
      + 'refused with HEARTH_ERR_RESOURCE_EXHAUSTED',
    concurrency: ctx.settings.closedConcurrency, connections: ctx.settings.closedConcurrency, achievedRate: r.achievedRate,
    perWorkerRate: null, requests: r.requests, errors: r.errors, latencyMs: r.latency, sendLagMs: null,
    generatorCpuPercent: r.generatorCpuPercent, loadAverage1m: os.loadavg()[0] ?? 0, server: usage,
    errorSamples: r.errorSamples.filter((e) => !e.includes('RESOURCE_EXHAUSTED')), errorCodes: r.errorCodes ?? {},
  };
}

export const noisyNeighbourScenario: Scenario = {
  kind: 'custom',
  id: 'noisy-neighbour',
  title: 'quiet app\'s state gets with and without a noisy app flooding past its quota (one agent, paired rounds)',
  requires: [],
  async run(ctx) {
    const s = ctx.settings;
    const hearth = await startHearth(ctx.cleanup, { apps: [QUIET, NOISY], label: 'ops-agent + 2 workers (quiet + noisy apps)' });
    try {
      // Paired: at least two rounds, whatever --rounds says.
      const rounds = Math.max(2, Math.min(s.rounds, Math.floor(s.durationMs / 1000)));
      const roundMs = Math.round(s.durationMs / rounds);
      ctx.log(`[noisy-neighbour] ${rounds} rounds × (${roundMs / 1000} s alone + ${roundMs / 1000} s beside the flood), `
        + `quiet ${s.rate} req/s over ${s.connections} connections`);
      const alone: Acc = { results: [], usages: [], rounds: [] };
      const flooded: Acc = { results: [], usages: [], rounds: [] };
      const flood: LoadResult[] = [];
      for (let round = 0; round < rounds && !ctx.cleanup.closed; round++) {
        const warmupMs = round === 0 ? s.warmupMs : Math.min(s.warmupMs, LATER_ROUND_WARMUP_MS);
        const tag = `${round + 1}/${rounds}`;
        const runAlone = (): Promise<void> => quietRound(ctx, hearth, warmupMs, roundMs, alone, `${QUIET_ALONE_ID} ${tag}`);
        const runFlooded = (): Promise<void> => floodedRound(ctx, hearth, warmupMs, roundMs, flooded, flood, `${QUIET_FLOODED_ID} ${tag}`);
        if (round % 2 === 0) {
          await runAlone();
          await runFlooded();
        } else {
          await runFlooded();
          await runAlone();
        }
      }
      if (flood.length === 0) return [];
      return [
        rowOf(ctx, QUIET_ALONE_ID, 'quiet app: state get 1 KB, alone', null, alone),
        rowOf(ctx, QUIET_FLOODED_ID, 'quiet app: state get 1 KB, beside the noisy app\'s flood', QUIET_ALONE_ID, flooded),
        floodRow(ctx, flood, mergeUsage(flooded.usages)),
      ];
    } finally {
      await hearth.stop();
    }
  },
};
