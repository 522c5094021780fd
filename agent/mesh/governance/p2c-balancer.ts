// Power of two choices: pick two endpoints at random, send to the cheaper one. Nearly as good as
// always picking the global best, without the herd that "always the best" causes when many
// callers share the same stale view (Mitzenmacher; Finagle's and Linkerd's P2C-EWMA balancers).
import type { EndpointStats } from './endpoint-stats.js';

/** How much a 100 % error rate multiplies an endpoint's cost (1 + penalty × errorRate). */
export const DEFAULT_ERROR_PENALTY = 10;

export interface P2CCandidate {
  readonly stats: EndpointStats;
}

/**
 * cost = latency × (inFlight + 1) × (1 + errorPenalty × errorRate). An endpoint with no latency
 * yet is costed at the lowest known latency among the candidates (1 ms when none is known), so
 * it gets explored without being flooded: its in-flight count still raises its cost.
 */
export function pickP2C<T extends P2CCandidate>(
  candidates: readonly T[],
  random: () => number = Math.random,
  errorPenalty = DEFAULT_ERROR_PENALTY,
): T | undefined {
  if (candidates.length <= 1) return candidates[0];
  const n = candidates.length;
  const i = Math.min(n - 1, Math.floor(random() * n));
  let j = Math.min(n - 2, Math.floor(random() * (n - 1)));
  if (j >= i) j += 1;
  const a = candidates[i] as T;
  const b = candidates[j] as T;
  const floor = lowestKnownLatency(candidates);
  return cost(b.stats, floor, errorPenalty) < cost(a.stats, floor, errorPenalty) ? b : a;
}

export function cost(stats: EndpointStats, unknownLatencyMs: number, errorPenalty = DEFAULT_ERROR_PENALTY): number {
  const latency = stats.latencyMs ?? unknownLatencyMs;
  // A floor keeps in-flight and errors meaningful between endpoints that answer in ~0 ms.
  return Math.max(latency, 0.01) * (stats.inFlight + 1) * (1 + errorPenalty * stats.errorRate);
}

function lowestKnownLatency(candidates: readonly P2CCandidate[]): number {
  let lowest: number | undefined;
  for (const c of candidates) {
    const l = c.stats.latencyMs;
    if (l !== undefined && (lowest === undefined || l < lowest)) lowest = l;
  }
  return lowest ?? 1;
}
