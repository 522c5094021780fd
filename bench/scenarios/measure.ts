// Runs one load job against a server and turns the result into a row: the parent samples the
// server's CPU and RSS exactly over the window the load worker measures (its phase messages).
import os from 'node:os';
import { UsageMonitor, type ServerUnderTest, type UsageResult } from '../harness/usage-monitor.js';
import { runLoad } from '../load/load-generator.js';
import type { LoadResult, TargetSpec } from '../load/load-protocol.js';
import type { LatencyRow } from '../report/report-types.js';
import type { ScenarioContext } from './scenario.js';

export interface RowMeta {
  id: string;
  scenario: string;
  transport: string;
  baselineId: string | null;
}

const DRAIN_TIMEOUT_MS = 10_000;

function fmt(ms: number): string {
  return ms.toFixed(3);
}

function logResult(ctx: ScenarioContext, meta: RowMeta, result: LoadResult, usage: UsageResult): void {
  const l = result.latency;
  ctx.log(`[${meta.id}] ${result.requests} req, ${result.errors} errors, ${result.achievedRate.toFixed(0)} req/s; `
    + `p50 ${fmt(l.p50)} p90 ${fmt(l.p90)} p99 ${fmt(l.p99)} p99.9 ${fmt(l.p999)} ms; `
    + `server CPU ${usage.cpuPercent.toFixed(0)}% (${usage.processes.map((p) => p.cpuPercent.toFixed(0)).join('+')}) `
    + `RSS ${usage.rssMb.toFixed(0)} MB; generator CPU ${result.generatorCpuPercent.toFixed(0)}%`
    + (result.sendLag === null ? '' : `, send lag p99 ${fmt(result.sendLag.p99)} ms`));
  for (const sample of result.errorSamples) ctx.log(`[${meta.id}]   error: ${sample}`);
}

async function measured(ctx: ScenarioContext, server: ServerUnderTest,
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

export async function measureOpenLoop(ctx: ScenarioContext, server: ServerUnderTest, target: TargetSpec,
  meta: RowMeta): Promise<LatencyRow> {
  const s = ctx.settings;
  ctx.log(`[${meta.id}] open loop ${s.rate} req/s × ${s.durationMs / 1000} s (+${s.warmupMs / 1000} s warm-up), `
    + `${s.connections} connections`);
  const { result, usage } = await measured(ctx, server, (onPhase) => runLoad({
    type: 'open-loop', target, rate: s.rate, warmupMs: s.warmupMs, durationMs: s.durationMs,
    connections: s.connections, drainTimeoutMs: DRAIN_TIMEOUT_MS,
  }, ctx.cleanup, onPhase));
  logResult(ctx, meta, result, usage);
  const lag = result.sendLag;
  return {
    kind: 'latency', ...meta, mode: 'open', targetRate: s.rate, concurrency: null, connections: s.connections,
    achievedRate: result.achievedRate, perWorkerRate: null, requests: result.requests, errors: result.errors,
    latencyMs: result.latency, sendLagMs: lag === null ? null : { p50: lag.p50, p99: lag.p99, max: lag.max },
    generatorCpuPercent: result.generatorCpuPercent, loadAverage1m: os.loadavg()[0] ?? 0,
    server: usage, errorSamples: result.errorSamples,
  };
}

export async function measureClosedLoop(ctx: ScenarioContext, server: ServerUnderTest, target: TargetSpec,
  meta: RowMeta, workers: number | null): Promise<LatencyRow> {
  const s = ctx.settings;
  const warmupMs = Math.min(s.warmupMs, 3_000);
  ctx.log(`[${meta.id}] closed loop, ${s.closedConcurrency} in flight × ${s.closedDurationMs / 1000} s (+${warmupMs / 1000} s warm-up)`);
  const { result, usage } = await measured(ctx, server, (onPhase) => runLoad({
    type: 'closed-loop', target, concurrency: s.closedConcurrency, warmupMs, durationMs: s.closedDurationMs,
    drainTimeoutMs: DRAIN_TIMEOUT_MS,
  }, ctx.cleanup, onPhase));
  logResult(ctx, meta, result, usage);
  return {
    kind: 'latency', ...meta, mode: 'closed', targetRate: null, concurrency: s.closedConcurrency,
    connections: s.closedConcurrency, achievedRate: result.achievedRate,
    perWorkerRate: workers === null ? null : result.achievedRate / workers, requests: result.requests,
    errors: result.errors, latencyMs: result.latency, sendLagMs: null,
    generatorCpuPercent: result.generatorCpuPercent, loadAverage1m: os.loadavg()[0] ?? 0, server: usage, errorSamples: result.errorSamples,
  };
}
