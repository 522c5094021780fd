// Retry/hedge budgets, the latency tracker and backoff, on an injected clock.
import test from 'ava';
import { backoffDelay } from '../../agent/mesh/governance/backoff.js';
import { LatencyTracker } from '../../agent/mesh/governance/latency-tracker.js';
import { Budget } from '../../agent/mesh/governance/retry-budget.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** Sends `requests` over `ms`, retrying every one (a fully failing target); returns retries allowed. */
function storm(budget: Budget, c: ReturnType<typeof clock>, requests: number, ms: number): number {
  let retries = 0;
  for (let i = 0; i < requests; i++) {
    c.advance(ms / requests);
    budget.deposit();
    if (budget.tryWithdraw()) retries += 1;
  }
  return retries;
}

test('under load the budget allows about percent% retries', (t) => {
  const c = clock();
  const budget = new Budget(10, 0, c.now);
  storm(budget, c, 10_000, 10_000); // fill the window
  const retries = storm(budget, c, 10_000, 10_000);
  t.true(retries >= 950 && retries <= 1_050, `retries ${retries}`);
});

test('the floor lets a quiet target retry although its deposits are tiny', (t) => {
  const c = clock();
  const budget = new Budget(10, 10, c.now);
  // 5 requests in 10 s earn half a token; the floor adds 10/s over the 10 s window.
  let retries = 0;
  for (let i = 0; i < 5; i++) {
    budget.deposit();
    if (budget.tryWithdraw()) retries += 1;
  }
  t.is(retries, 5);
  const noFloor = new Budget(10, 0, c.now);
  for (let i = 0; i < 5; i++) noFloor.deposit();
  t.false(noFloor.tryWithdraw());
});

test('the floor is finite: a burst of retries with no traffic runs it dry', (t) => {
  const c = clock();
  const budget = new Budget(10, 10, c.now);
  let retries = 0;
  while (budget.tryWithdraw()) retries += 1;
  t.is(retries, 100);
});

test('spent tokens come back once they leave the window', (t) => {
  const c = clock();
  const budget = new Budget(10, 1, c.now);
  while (budget.tryWithdraw()) c.advance(0);
  t.false(budget.tryWithdraw());
  c.advance(11_000);
  t.true(budget.tryWithdraw());
});

test('a zero-percent budget without floor never allows extra load', (t) => {
  const c = clock();
  const budget = new Budget(0, 0, c.now);
  t.is(storm(budget, c, 1_000, 1_000), 0);
});

test('the latency tracker has no percentile below 20 samples, then nearest-rank percentiles', (t) => {
  const c = clock();
  const tracker = new LatencyTracker(c.now);
  for (let i = 1; i <= 19; i++) tracker.record(i);
  t.is(tracker.percentile(95), undefined);
  tracker.record(20);
  t.is(tracker.percentile(95), 19);
  t.is(tracker.percentile(50), 10);
  t.is(tracker.percentile(100), 20);
});

test('the latency tracker keeps the last 1,000 samples and forgets old ones', (t) => {
  const c = clock();
  const tracker = new LatencyTracker(c.now);
  for (let i = 0; i < 1_000; i++) tracker.record(1_000);
  for (let i = 0; i < 1_000; i++) tracker.record(5);
  c.advance(2_000); // past the percentile cache
  t.is(tracker.percentile(99), 5);
  c.advance(60_001);
  t.is(tracker.percentile(50), undefined, 'every sample is older than a minute');
});

test('backoff is full-jitter exponential and never outlives the remaining budget', (t) => {
  t.is(backoffDelay(1, 100, 10_000, () => 0.999), 99);
  t.is(backoffDelay(2, 100, 10_000, () => 0.999), 199);
  t.is(backoffDelay(3, 100, 10_000, () => 0.5), 200);
  t.is(backoffDelay(3, 100, 10_000, () => 0), 0);
  t.is(backoffDelay(10, 100, 150, () => 0.999), 150);
  t.is(backoffDelay(40, 100, 1e9, () => 0.999), 9_990, 'capped at 10 s');
  t.is(backoffDelay(1, 0, 1_000, () => 0.5), 0);
});
