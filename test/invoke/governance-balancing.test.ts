// Endpoint statistics and the power-of-two-choices balancer, on an injected clock: the balancer
// sends most traffic to the fast endpoint, steers around one with calls piling up or failing,
// and explores endpoints it has no latency for yet.
import test from 'ava';
import { EndpointStats } from '../../agent/mesh/governance/endpoint-stats.js';
import { cost, pickP2C } from '../../agent/mesh/governance/p2c-balancer.js';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** A deterministic PRNG (mulberry32) so pick counts do not depend on luck. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function endpoint(id: string, now: () => number): { id: string; stats: EndpointStats } {
  return { id, stats: new EndpointStats(now) };
}

function feed(stats: EndpointStats, latencyMs: number, ok: boolean, n: number, advance: (ms: number) => void): void {
  for (let i = 0; i < n; i++) {
    stats.recordStart();
    advance(10);
    stats.recordEnd(latencyMs, ok);
  }
}

test('latency average is seeded by the first sample and moves toward new samples over time', (t) => {
  const c = clock();
  const s = new EndpointStats(c.now);
  t.is(s.latencyMs, undefined);
  s.recordStart();
  s.recordEnd(40, true);
  t.is(s.latencyMs, 40);
  // Ten seconds of 10 ms answers outweigh the old 40 ms sample.
  for (let i = 0; i < 100; i++) {
    c.advance(100);
    s.recordStart();
    s.recordEnd(10, true);
  }
  const l = s.latencyMs ?? 0;
  t.true(l < 15 && l >= 10, `latency ${l}`);
});

test('in-flight, error rate and consecutive failures follow start and end records', (t) => {
  const c = clock();
  const s = new EndpointStats(c.now);
  s.recordStart();
  s.recordStart();
  t.is(s.inFlight, 2);
  s.recordEnd(5, false);
  s.recordEnd(5, false);
  t.is(s.inFlight, 0);
  t.is(s.consecutiveFailures, 2);
  t.is(s.errorRate, 1);
  s.recordStart();
  s.recordEnd(5, true);
  t.is(s.consecutiveFailures, 0);
  t.true(s.errorRate > 0.5 && s.errorRate < 1);
  // The error rate fades with time when nothing new happens... and stays a rate.
  c.advance(60_000);
  t.true(s.errorRate >= 0 && s.errorRate <= 1);
});

test('an abandoned call leaves in-flight and counts its elapsed time as latency, not as an error', (t) => {
  const c = clock();
  const s = new EndpointStats(c.now);
  s.recordStart();
  s.recordAbandon(500);
  t.is(s.inFlight, 0);
  t.is(s.latencyMs, 500);
  t.is(s.errorRate, 0);
  t.is(s.consecutiveFailures, 0);
});

test('P2C sends most picks to the fast endpoint', (t) => {
  const c = clock();
  const fast = endpoint('fast', c.now);
  const slow = endpoint('slow', c.now);
  const medium = endpoint('medium', c.now);
  feed(fast.stats, 5, true, 20, c.advance);
  feed(slow.stats, 200, true, 20, c.advance);
  feed(medium.stats, 50, true, 20, c.advance);
  const random = seeded(7);
  const counts = new Map<string, number>();
  for (let i = 0; i < 3_000; i++) {
    const picked = pickP2C([fast, slow, medium], random);
    counts.set(picked?.id ?? '', (counts.get(picked?.id ?? '') ?? 0) + 1);
  }
  // With two random choices, the fastest of three wins every pair it is in (2/3 of pairs); the
  // slowest wins none.
  t.true((counts.get('fast') ?? 0) > 1_800, JSON.stringify([...counts]));
  t.is(counts.get('slow') ?? 0, 0);
});

test('P2C avoids an endpoint with many calls in flight even when it is fast', (t) => {
  const c = clock();
  const loaded = endpoint('loaded', c.now);
  const idle = endpoint('idle', c.now);
  feed(loaded.stats, 5, true, 20, c.advance);
  feed(idle.stats, 8, true, 20, c.advance);
  for (let i = 0; i < 10; i++) loaded.stats.recordStart();
  t.true(cost(loaded.stats, 1) > cost(idle.stats, 1));
  const random = seeded(3);
  for (let i = 0; i < 200; i++) t.is(pickP2C([loaded, idle], random)?.id, 'idle');
});

test('P2C penalises an endpoint that returns errors', (t) => {
  const c = clock();
  const failing = endpoint('failing', c.now);
  const healthy = endpoint('healthy', c.now);
  feed(failing.stats, 5, false, 10, c.advance);
  feed(healthy.stats, 20, true, 10, c.advance);
  const random = seeded(11);
  for (let i = 0; i < 200; i++) t.is(pickP2C([failing, healthy], random)?.id, 'healthy');
});

test('P2C explores an endpoint with no latency yet, but not once calls pile up on it', (t) => {
  const c = clock();
  const known = endpoint('known', c.now);
  const fresh = endpoint('fresh', c.now);
  feed(known.stats, 30, true, 20, c.advance);
  const random = seeded(5);
  // Unknown latency is costed at the lowest known: with fewer calls in flight it wins.
  known.stats.recordStart();
  t.is(pickP2C([known, fresh], random)?.id, 'fresh');
  fresh.stats.recordStart();
  fresh.stats.recordStart();
  t.is(pickP2C([known, fresh], random)?.id, 'known');
});

test('P2C handles zero and one candidate', (t) => {
  const c = clock();
  t.is(pickP2C([]), undefined);
  const only = endpoint('only', c.now);
  t.is(pickP2C([only])?.id, 'only');
});
