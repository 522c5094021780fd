// The per-target circuit breaker on an injected clock: opens on the failure ratio once the window
// holds enough calls, fails fast while open, and lets exactly one probe decide when half-open.
import test from 'ava';
import type { BreakerPolicy } from '../../agent/config/config-schema.js';
import { CircuitBreaker } from '../../agent/mesh/governance/circuit-breaker.js';

const POLICY: BreakerPolicy = { failureRatio: 0.5, minRequests: 10, windowMs: 10_000, openMs: 5_000 };

function setup(policy: BreakerPolicy = POLICY) {
  let t = 1_000_000;
  const breaker = new CircuitBreaker(policy, () => t);
  const call = (ok: boolean) => {
    const permit = breaker.allow();
    if (!permit) return 'refused' as const;
    return breaker.onResult(permit, ok);
  };
  return { breaker, call, advance: (ms: number) => (t += ms) };
}

test('stays closed below minRequests however many of them fail', (t) => {
  const { breaker, call } = setup();
  for (let i = 0; i < 9; i++) t.is(call(false), undefined);
  t.is(breaker.state(), 'closed');
  t.is(call(false), 'opened');
  t.is(breaker.state(), 'open');
});

test('opens when the failure ratio reaches the threshold over the window', (t) => {
  const { breaker, call } = setup();
  for (let i = 0; i < 10; i++) call(true);
  for (let i = 0; i < 9; i++) t.is(call(false), undefined, `failure ${i + 1} of 19 calls`);
  t.is(call(false), 'opened'); // 10 of 20
  t.is(breaker.allow(), undefined);
});

test('failures older than the window no longer count', (t) => {
  const { breaker, call, advance } = setup();
  for (let i = 0; i < 9; i++) call(false);
  advance(11_000);
  for (let i = 0; i < 9; i++) call(true);
  t.is(call(false), undefined);
  t.is(breaker.state(), 'closed');
});

test('half-open after openMs lets exactly one probe through; its success closes the breaker', (t) => {
  const { breaker, call, advance } = setup();
  for (let i = 0; i < 10; i++) call(false);
  advance(4_999);
  t.is(breaker.allow(), undefined);
  advance(1);
  t.is(breaker.state(), 'half-open');
  const probe = breaker.allow();
  t.deepEqual(probe, { probe: true });
  t.is(breaker.allow(), undefined, 'a second call waits for the probe');
  t.is(breaker.onResult(probe!, true), 'closed');
  t.is(breaker.state(), 'closed');
  // A fresh window: one failure does not reopen it.
  t.is(call(false), undefined);
});

test('a failed probe opens the breaker for another openMs', (t) => {
  const { breaker, call, advance } = setup();
  for (let i = 0; i < 10; i++) call(false);
  advance(5_000);
  const probe = breaker.allow();
  t.is(breaker.onResult(probe!, false), 'opened');
  t.is(breaker.state(), 'open');
  advance(4_999);
  t.is(breaker.allow(), undefined);
  advance(1);
  t.truthy(breaker.allow());
});

test('a probe with no verdict frees the probe slot; late results of older calls do not decide', (t) => {
  const { breaker, call, advance } = setup();
  const early = breaker.allow()!;
  for (let i = 0; i < 10; i++) call(false);
  advance(5_000);
  const probe = breaker.allow()!;
  t.is(breaker.onResult(early, true), undefined, 'a call admitted before opening');
  t.is(breaker.state(), 'half-open');
  breaker.onResult(probe, undefined);
  t.deepEqual(breaker.allow(), { probe: true });
});
