// Runs load jobs against servers and turns the results into rows. The parent samples each
// server's CPU and RSS exactly over the window the load worker measures (its phase messages).
// Open-loop rows are measured in rounds, every row once per round in turn, and each row's rounds
// merged: interference from other work on the machine is spread over all rows alike.
import os from 'node:os';
import { UsageMonitor, type ServerUnderTest, type UsageResult } from '../harness/usage-monitor.js';
import { runLoad } from '../load/load-generator.js';
import type { LoadResult, TargetSpec } from '../load/load-protocol.js';
import { mergeLoadResults, mergeUsage } from '../load/merge-results.js';
import type { LatencyRow, RoundFigures } from '../report/report-types.js';
import type { RateRowSpec, RowMeta, ScenarioContext } from './scenario.js';

const DRAIN_TIMEOUT_MS = 10_000;
/** Later rounds only reconnect and re-warm the generator (the servers are warm by then). */
const LATER_ROUND_WARMUP_MS = 1_000;

const fmt = (ms: number): string => ms.toFixed(3);

export function logResult(ctx: ScenarioContext, label: string, result: LoadResult, usage: UsageResult): void {
  const l = result.latency;
  ctx.log(`[${label}] ${result.requests} req, ${result.errors} errors, ${result.achievedRate.toFixed(0)} req/s; `
    + `p50 ${fmt(l.p50)} p90 ${fmt(l.p90)} p99 ${fmt(l.p99)} p99.9 ${fmt(l.p999)} ms; `
    + `server CPU ${usage.cpuPercent.toFixed(0)}% (${usage.processes.map((p) => p.cpuPercent.toFixed(0)).join('+')}) `
    + `RSS ${usage.rssMb.toFixed(0)} MB; generator CPU ${result.generatorCpuPercent.toFixed(0)}%`
    + (result.sendLag === null ? '' : `, send lag p99 ${fmt(result.sendLag.p99)} ms`)
    + `; load ${(os.loadavg()[0] ?? 0).toFixed(2)}`);
  for (const sample of result.errorSamples) ctx.log(`[${label}]   error: ${sample}`);
}

/** Runs `load`, sampling `server` over exactly the window the load worker measures. */
export async function measured(server: ServerUnderTest,
  load: (onPhase: (phase: string) => void) => Promise<LoadResult>): Promise<{ result: LoadResult; usage: UsageResult }> {
  const monitor = new UsageMonitor(server);
  let usage: UsageResult | null = null;
  let begun = false;
  const result = await load((phase) => {
    if (phase === 'measuring' && !begun) {
      begun = true;
      monitor.begin();
    } else if (phase === 'measured' && begun && usage === null) usage = monitor.end();
  });
  if (!begun) monitor.begin();
  return { result, usage: usage ?? monitor.end() };
}

/** `rate`: what the row was loaded at (its own rate, or the run's). */
export function openLoopRow(ctx: ScenarioContext, meta: RowMeta, result: LoadResult, usage: UsageResult, rate = ctx.settings.rate): LatencyRow {
  const s = ctx.settings;
  const lag = result.sendLag;
  return {
    kind: 'latency', ...meta, mode: 'open', targetRate: rate, concurrency: null, connections: s.connections,
    achievedRate: result.achievedRate, perWorkerRate: null, requests: result.requests, errors: result.errors,
    latencyMs: result.latency, sendLagMs: lag === null ? null : { p50: lag.p50, p99: lag.p99, max: lag.max },
    generatorCpuPercent: result.generatorCpuPercent, loadAverage1m: os.loadavg()[0] ?? 0,
    server: usage, errorSamples: result.errorSamples, errorCodes: result.errorCodes,
  };
}

/**
 * Measures every spec for `durationMs` in total, split into `rounds` interleaved rounds. A row whose
 * round fails is dropped (reported through `onFailure`); the others go on.
 */
export async function measureOpenLoopRows(ctx: ScenarioContext, specs: readonly RateRowSpec[],
  onFailure: (spec: RateRowSpec, error: string) => void): Promise<LatencyRow[]> {
  const s = ctx.settings;
  const rounds = Math.max(1, Math.min(s.rounds, Math.floor(s.durationMs / 1000)));
  const roundMs = Math.round(s.durationMs / rounds);
  const done = new Map<RateRowSpec, { results: LoadResult[]; usages: UsageResult[]; rounds: RoundFigures[] }>(
    specs.map((spec) => [spec, { results: [], usages: [], rounds: [] }]));
  const own = specs.filter((spec) => spec.rate !== undefined).length;
  ctx.log(`open loop ${s.rate} req/s${own > 0 ? ` (${own} rows at their own rate)` : ''}, ${s.connections} connections: `
    + `${specs.length} rows × ${rounds} rounds of `
    + `${roundMs / 1000} s (+${s.warmupMs / 1000} s warm-up in round 1, ${LATER_ROUND_WARMUP_MS / 1000} s after)`);
  for (let round = 0; round < rounds && !ctx.cleanup.closed; round++) {
    for (const [spec, acc] of done) {
      const warmupMs = round === 0 ? s.warmupMs : Math.min(s.warmupMs, LATER_ROUND_WARMUP_MS);
      try {
        const { result, usage } = await measured(spec.server, (onPhase) => runLoad({
          type: 'open-loop', target: spec.target, rate: spec.rate ?? s.rate, warmupMs, durationMs: roundMs,
          connections: s.connections, drainTimeoutMs: DRAIN_TIMEOUT_MS,
        }, ctx.cleanup, onPhase));
        acc.results.push(result);
        acc.usages.push(usage);
        acc.rounds.push({
          p50: result.latency.p50, p99: result.latency.p99, requests: result.requests, errors: result.errors,
          sendLagP99: result.sendLag?.p99 ?? null, loadAverage1m: os.loadavg()[0] ?? 0,
        });
        logResult(ctx, rounds > 1 ? `${spec.meta.id} ${round + 1}/${rounds}` : spec.meta.id, result, usage);
      } catch (err) {
        done.delete(spec);
        onFailure(spec, err instanceof Error ? err.message : String(err));
      }
    }
  }
  return [...done.entries()].filter(([, acc]) => acc.results.length === rounds).map(([spec, acc]) => {
    const result = mergeLoadResults(acc.results);
    const usage = mergeUsage(acc.usages);
    if (rounds > 1) logResult(ctx, `${spec.meta.id} all rounds`, result, usage);
    return { ...openLoopRow(ctx, spec.meta, result, usage, spec.rate), rounds: acc.rounds };
  });
}

export async function measureClosedLoop(ctx: ScenarioContext, server: ServerUnderTest, target: TargetSpec,
  meta: RowMeta, workers: number | null): Promise<LatencyRow> {
  const s = ctx.settings;
  const warmupMs = Math.min(s.warmupMs, 3_000);
  ctx.log(`[${meta.id}] closed loop, ${s.closedConcurrency} in flight × ${s.closedDurationMs / 1000} s (+${warmupMs / 1000} s warm-up)`);
  const { result, usage } = await measured(server, (onPhase) => runLoad({
    type: 'closed-loop', target, concurrency: s.closedConcurrency, warmupMs, durationMs: s.closedDurationMs,
    drainTimeoutMs: DRAIN_TIMEOUT_MS,
  }, ctx.cleanup, onPhase));
  logResult(ctx, meta.id, result, usage);
  return {
    kind: 'latency', ...meta, mode: 'closed', targetRate: null, concurrency: s.closedConcurrency,
    connections: s.closedConcurrency, achievedRate: result.achievedRate,
    perWorkerRate: workers === null ? null : result.achievedRate / workers, requests: result.requests,
    errors: result.errors, latencyMs: result.latency, sendLagMs: null,
    generatorCpuPercent: result.generatorCpuPercent, loadAverage1m: os.loadavg()[0] ?? 0, server: usage,
    errorSamples: result.errorSamples, errorCodes: result.errorCodes,
  };
}
