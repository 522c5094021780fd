// Combines the rounds of one row (measured apart, interleaved with other rows) into one result:
// histograms are added (exact percentiles over all rounds), counts summed, rates and CPU weighted
// by each round's measured time.
import type { UsageResult } from '../harness/usage-monitor.js';
import { mergeErrorCodes } from './error-codes.js';
import { LatencyRecorder } from './latency-recorder.js';
import type { LatencySummary, LoadResult } from './load-protocol.js';

const MAX_ERROR_SAMPLES = 5;

function mergeLatency(parts: LatencySummary[]): LatencySummary {
  const recorder = new LatencyRecorder();
  for (const part of parts) recorder.addEncoded(part.encoded);
  return recorder.summary();
}

function weighted(parts: { weight: number; value: number }[]): number {
  const total = parts.reduce((sum, p) => sum + p.weight, 0);
  return total > 0 ? parts.reduce((sum, p) => sum + p.weight * p.value, 0) / total : 0;
}

export function mergeLoadResults(parts: LoadResult[]): LoadResult {
  const first = parts[0];
  if (first === undefined) throw new Error('no rounds to merge');
  if (parts.length === 1) return first;
  const lags = parts.map((p) => p.sendLag).filter((lag): lag is LatencySummary => lag !== null);
  return {
    requests: parts.reduce((sum, p) => sum + p.requests, 0),
    errors: parts.reduce((sum, p) => sum + p.errors, 0),
    achievedRate: weighted(parts.map((p) => ({ weight: p.measuredMs, value: p.achievedRate }))),
    measuredMs: parts.reduce((sum, p) => sum + p.measuredMs, 0),
    latency: mergeLatency(parts.map((p) => p.latency)),
    sendLag: lags.length === parts.length ? mergeLatency(lags) : null,
    errorSamples: parts.flatMap((p) => p.errorSamples).slice(0, MAX_ERROR_SAMPLES),
    errorCodes: mergeErrorCodes(parts.map((p) => p.errorCodes)),
    generatorCpuPercent: weighted(parts.map((p) => ({ weight: p.measuredMs, value: p.generatorCpuPercent }))),
  };
}

export function mergeUsage(parts: UsageResult[]): UsageResult {
  const last = parts[parts.length - 1];
  if (last === undefined) throw new Error('no rounds to merge');
  if (parts.length === 1) return last;
  const span = (u: UsageResult): number => u.windows.reduce((sum, w) => sum + (w.endMs - w.startMs), 0);
  return {
    label: last.label,
    cpuPercent: weighted(parts.map((u) => ({ weight: span(u), value: u.cpuPercent }))),
    rssMb: last.rssMb,
    peakRssMb: Math.max(...parts.map((u) => u.peakRssMb)),
    processes: last.processes.map((proc) => ({
      ...proc,
      cpuPercent: weighted(parts.map((u) => ({
        weight: span(u), value: u.processes.find((p) => p.pid === proc.pid)?.cpuPercent ?? 0,
      }))),
    })),
    windows: parts.flatMap((u) => u.windows),
  };
}
