// TargetGovernor.execute end to end over plain endpoints whose send() answers, fails or hangs as
// each scenario needs (the governor is a policy library: its collaborators are the real ones,
// only the network is replaced). Real timers with generous values; assertions are on codes,
// which endpoint was called and which signals were aborted, never on elapsed time.
import test from 'ava';
import { pino } from 'pino';
import type { InvokeResult } from '../../agent/building-blocks/runtime-api.js';
import type { InvokePolicy } from '../../agent/config/config-schema.js';
import { HearthError } from '../../agent/errors/hearth-error.js';
import { countsAsFailure, isRetryable } from '../../agent/mesh/governance/error-classes.js';
import { signalCancellation } from '../../agent/mesh/governance/abortable.js';
import {
  TargetGovernor,
  type GovernanceEvent,
  type GovernedCall,
  type GovernedEndpoint,
  type TargetGovernorOptions,
} from '../../agent/mesh/governance/target-governor.js';
import { waitFor } from '../support/wait.js';


const logger = pino({ level: 'silent' });

function policy(over: Partial<InvokePolicy> = {}): InvokePolicy {
  return {
    timeoutMs: 5_000,
    maxAttempts: 3,
    retryBudgetPercent: 10,
    retryBackoffMs: 1,
    hedge: { enabled: false, percentile: 95, minDelayMs: 30, budgetPercent: 10 },
    outlier: { consecutiveFailures: 1_000, ejectionMs: 10_000, maxEjectedPercent: 50 },
    breaker: { failureRatio: 0.5, minRequests: 1_000, windowMs: 10_000, openMs: 5_000 },
    ...over,
  };
}

type Behaviour = (attempt: number, signal: AbortSignal) => Promise<InvokeResult>;

interface TestEndpoint extends GovernedEndpoint {
  readonly attempts: number[];
  readonly signals: AbortSignal[];
}

function endpoint(id: string, behaviour: Behaviour, tier = 0): TestEndpoint {
  const attempts: number[] = [];
  const signals: AbortSignal[] = [];
  return {
    id,
    tier,
    attempts,
    signals,
    send(attempt, signal) {
      attempts.push(attempt);
      signals.push(signal);
      return behaviour(attempt, signal);
    },
  };
}

const answer = (text: string): InvokeResult => ({ data: Buffer.from(text), contentType: 'text/plain', metadata: {} });
const ok = (text: string): Behaviour => async () => answer(text);
const fail = (code: string, details?: Record<string, unknown>): Behaviour => async () => {
  throw new HearthError(code as HearthError['code'], undefined, details);
};
/** Never answers on its own: settles only when its signal aborts (or never, with `ignoreAbort`). */
const hang = (ignoreAbort = false): Behaviour => (_attempt, signal) =>
  new Promise((_resolve, reject) => {
    if (!ignoreAbort) signal.addEventListener('abort', () => reject(new HearthError('HEARTH_ERR_CANCELLED')), { once: true });
  });
const after = (ms: number, then: Behaviour): Behaviour => (attempt, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => void then(attempt, signal).then(resolve, reject), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new HearthError('HEARTH_ERR_CANCELLED'));
    }, { once: true });
  });

function governor(p: InvokePolicy = policy(), over: Partial<TargetGovernorOptions> = {}) {
  const events: GovernanceEvent[] = [];
  // random 0: P2C takes the first of two equal-cost endpoints and backoff is 0, so runs repeat.
  const g = new TargetGovernor('target', p, { logger, random: () => 0, onEvent: (e) => events.push(e), ...over });
  return { g, events };
}

function call(endpoints: readonly GovernedEndpoint[], over: Partial<GovernedCall> = {}): GovernedCall {
  return { endpoints: () => endpoints, idempotent: true, deadline: Date.now() + 5_000, requestId: 'req-1', ...over };
}

const text = (r: InvokeResult): string => r.data.toString();

/** Gives the governor a latency distribution (20+ fast successes) so hedging can start. */
async function warmUp(g: TargetGovernor): Promise<void> {
  const warm = endpoint('warm', ok('warm'));
  for (let i = 0; i < 25; i++) await g.execute(call([warm]));
}

test('classifier: transient codes are retryable, endpoint faults count as failures', (t) => {
  t.true(isRetryable('HEARTH_ERR_DRAINING'));
  t.true(isRetryable('HEARTH_ERR_RESOURCE_EXHAUSTED'));
  for (const code of ['HEARTH_ERR_APP_ERROR', 'HEARTH_ERR_PERMISSION_DENIED', 'HEARTH_ERR_CANCELLED', 'HEARTH_ERR_CIRCUIT_OPEN', 'HEARTH_ERR_TIMEOUT']) {
    t.false(isRetryable(code), code);
  }
  t.true(countsAsFailure('HEARTH_ERR_TIMEOUT'));
  t.true(countsAsFailure('HEARTH_ERR_APP_ERROR'));
  t.false(countsAsFailure('HEARTH_ERR_RESOURCE_EXHAUSTED'));
  t.false(countsAsFailure('HEARTH_ERR_INVALID_ARGUMENT'));
});

test('an idempotent call that fails transiently is retried on another endpoint', async (t) => {
  const { g, events } = governor();
  const e0 = endpoint('e0', fail('HEARTH_ERR_APP_UNAVAILABLE'));
  const e1 = endpoint('e1', ok('from e1'));
  t.is(text(await g.execute(call([e0, e1]))), 'from e1');
  t.deepEqual(e0.attempts, [1]);
  t.deepEqual(e1.attempts, [2]);
  t.deepEqual(events, [{ type: 'retry', target: 'target', code: 'HEARTH_ERR_APP_UNAVAILABLE' }]);
});

test('a non-idempotent call is not retried after it was sent', async (t) => {
  const { g } = governor();
  const e0 = endpoint('e0', fail('HEARTH_ERR_CALL_INTERRUPTED'));
  const e1 = endpoint('e1', ok('from e1'));
  await t.throwsAsync(g.execute(call([e0, e1], { idempotent: false })), { code: 'HEARTH_ERR_CALL_INTERRUPTED' });
  t.is(e1.attempts.length, 0);
});

test('a non-idempotent call is retried when the error says the request never left', async (t) => {
  const { g } = governor();
  const e0 = endpoint('e0', fail('HEARTH_ERR_AGENT_UNAVAILABLE', { notSent: true }));
  const e1 = endpoint('e1', ok('from e1'));
  t.is(text(await g.execute(call([e0, e1], { idempotent: false }))), 'from e1');
});

test('notSent is read from a coded error of another build (not a HearthError instance)', async (t) => {
  const { g } = governor();
  const foreign = Object.assign(new Error('refused'), { code: 'HEARTH_ERR_AGENT_UNAVAILABLE', details: { notSent: true } });
  const e0 = endpoint('e0', async () => {
    throw foreign;
  });
  const e1 = endpoint('e1', ok('from e1'));
  t.is(text(await g.execute(call([e0, e1], { idempotent: false }))), 'from e1');
});

test('errors about the request or the app are never retried', async (t) => {
  for (const code of ['HEARTH_ERR_APP_ERROR', 'HEARTH_ERR_PERMISSION_DENIED', 'HEARTH_ERR_UNAUTHENTICATED', 'HEARTH_ERR_INVALID_ARGUMENT']) {
    const { g } = governor();
    const e0 = endpoint('e0', fail(code, { notSent: true }));
    const e1 = endpoint('e1', ok('from e1'));
    await t.throwsAsync(g.execute(call([e0, e1])), { code }, code);
    t.is(e1.attempts.length, 0, code);
  }
});

test('retries stop at maxAttempts', async (t) => {
  const { g, events } = governor(policy({ maxAttempts: 3 }));
  const all = ['a', 'b', 'c', 'd', 'e'].map((id) => endpoint(id, fail('HEARTH_ERR_DRAINING')));
  await t.throwsAsync(g.execute(call(all)), { code: 'HEARTH_ERR_DRAINING' });
  t.is(all.reduce((n, e) => n + e.attempts.length, 0), 3);
  t.is(events.filter((e) => e.type === 'retry').length, 2);
});

test('with every endpoint tried, a retry goes back to one already tried', async (t) => {
  const { g } = governor();
  let calls = 0;
  const flaky = endpoint('only', async () => {
    calls += 1;
    if (calls === 1) throw new HearthError('HEARTH_ERR_DRAINING');
    return answer('second try');
  });
  t.is(text(await g.execute(call([flaky]))), 'second try');
});

test('no retry when the backoff would outlive the deadline', async (t) => {
  const { g } = governor(policy({ retryBackoffMs: 60_000 }), { random: () => 0.999 });
  const e0 = endpoint('e0', fail('HEARTH_ERR_APP_UNAVAILABLE'), 0);
  const e1 = endpoint('e1', ok('from e1'), 1);
  await t.throwsAsync(g.execute(call([e0, e1], { deadline: Date.now() + 1_000 })), { code: 'HEARTH_ERR_APP_UNAVAILABLE' });
  t.is(e1.attempts.length, 0);
});

test('retries stop at the deadline: a retry that cannot finish in time ends in TIMEOUT', async (t) => {
  const { g } = governor(policy({ retryBackoffMs: 100 }), { random: () => 0.999 });
  const draining = endpoint('draining', fail('HEARTH_ERR_DRAINING'), 0);
  const stuck = endpoint('stuck', hang(true), 1);
  await t.throwsAsync(g.execute(call([draining, stuck], { deadline: Date.now() + 1_000 })), { code: 'HEARTH_ERR_TIMEOUT' });
  t.deepEqual(stuck.attempts, [2]);
  t.true(stuck.signals[0]?.aborted);
});

test('an instance shedding load (RESOURCE_EXHAUSTED) is retried elsewhere and not held against it', async (t) => {
  const { g } = governor();
  const busy = endpoint('busy', fail('HEARTH_ERR_RESOURCE_EXHAUSTED'), 0);
  const idle = endpoint('idle', ok('from idle'), 0);
  t.is(text(await g.execute(call([busy, idle]))), 'from idle');
  t.is(g.endpointStats('busy')?.consecutiveFailures, 0);
});

test('no retry when the retry budget is spent', async (t) => {
  const { g } = governor(policy({ retryBudgetPercent: 0 }), { retryFloorPerSecond: 0 });
  const e0 = endpoint('e0', fail('HEARTH_ERR_APP_UNAVAILABLE'));
  const e1 = endpoint('e1', ok('from e1'));
  await t.throwsAsync(g.execute(call([e0, e1])), { code: 'HEARTH_ERR_APP_UNAVAILABLE' });
  t.is(e1.attempts.length, 0);
});

test('an endpoint that never answers gets TIMEOUT at the deadline, its attempt aborted and counted', async (t) => {
  const { g } = governor();
  const stuck = endpoint('stuck', hang(true));
  await t.throwsAsync(g.execute(call([stuck], { deadline: Date.now() + 200 })), { code: 'HEARTH_ERR_TIMEOUT' });
  t.true(stuck.signals[0]?.aborted);
  t.is(g.endpointStats('stuck')?.consecutiveFailures, 1);
  t.is(g.endpointStats('stuck')?.inFlight, 0);
});

test('a call whose deadline already passed is refused without being sent', async (t) => {
  const { g } = governor();
  const e0 = endpoint('e0', ok('never'));
  await t.throwsAsync(g.execute(call([e0], { deadline: Date.now() - 1 })), { code: 'HEARTH_ERR_TIMEOUT' });
  t.is(e0.attempts.length, 0);
});

test('the caller aborting gets CANCELLED, aborts the attempt and is not held against the endpoint', async (t) => {
  const { g } = governor();
  const slow = endpoint('slow', hang());
  const caller = new AbortController();
  const pending = g.execute(call([slow], { cancellation: signalCancellation(caller.signal) }));
  await waitFor('the attempt to be sent', async () => (slow.attempts.length > 0 ? true : undefined), { timeoutMs: 5_000, everyMs: 5 });
  caller.abort();
  await t.throwsAsync(pending, { code: 'HEARTH_ERR_CANCELLED' });
  t.true(slow.signals[0]?.aborted);
  t.is(g.endpointStats('slow')?.consecutiveFailures, 0);
  t.is(g.endpointStats('slow')?.errorRate, 0);
});

test('an already aborted call is refused with CANCELLED without being sent', async (t) => {
  const { g } = governor();
  const e0 = endpoint('e0', ok('never'));
  await t.throwsAsync(g.execute(call([e0], { cancellation: signalCancellation(AbortSignal.abort()) })), { code: 'HEARTH_ERR_CANCELLED' });
  t.is(e0.attempts.length, 0);
});

test('no endpoints at all is APP_UNAVAILABLE', async (t) => {
  const { g } = governor();
  await t.throwsAsync(g.execute(call([])), { code: 'HEARTH_ERR_APP_UNAVAILABLE' });
});

test('a slow first attempt is hedged to another endpoint after the percentile delay; the slow one is aborted', async (t) => {
  const { g, events } = governor(policy({ hedge: { enabled: true, percentile: 95, minDelayMs: 30, budgetPercent: 10 } }));
  await warmUp(g);
  const slow = endpoint('slow', hang(), 0);
  const fast = endpoint('fast', ok('from fast'), 1);
  t.is(text(await g.execute(call([slow, fast]))), 'from fast');
  t.deepEqual(slow.attempts, [1]);
  t.deepEqual(fast.attempts, [2]);
  t.true(slow.signals[0]?.aborted);
  t.false(fast.signals[0]?.aborted);
  t.deepEqual(events, [{ type: 'hedge', target: 'target', endpoint: 'fast' }]);
});

test('no hedge before the target has a latency distribution, nor for a non-idempotent call', async (t) => {
  const p = policy({ hedge: { enabled: true, percentile: 95, minDelayMs: 30, budgetPercent: 100 } });
  const cold = governor(p);
  const slow = endpoint('slow', after(150, ok('from slow')), 0);
  const fast = endpoint('fast', ok('from fast'), 1);
  t.is(text(await cold.g.execute(call([slow, fast]))), 'from slow');
  const warm = governor(p);
  await warmUp(warm.g);
  t.is(text(await warm.g.execute(call([slow, fast], { idempotent: false }))), 'from slow');
  t.is(fast.attempts.length, 0);
});

test('a failed attempt waits for the other one of a hedged pair', async (t) => {
  const { g } = governor(policy({ maxAttempts: 1, hedge: { enabled: true, percentile: 95, minDelayMs: 30, budgetPercent: 100 } }));
  await warmUp(g);
  const failsLate = endpoint('fails-late', after(100, fail('HEARTH_ERR_APP_UNAVAILABLE')), 0);
  const answersLater = endpoint('answers-later', after(300, ok('from backup')), 1);
  t.is(text(await g.execute(call([failsLate, answersLater]))), 'from backup');
});

test('the hedge budget caps backup requests', async (t) => {
  const { g, events } = governor(policy({ hedge: { enabled: true, percentile: 95, minDelayMs: 30, budgetPercent: 10 } }), {
    hedgeFloorPerSecond: 0,
  });
  await warmUp(g); // 25 calls deposit 2.5 tokens
  const slow = endpoint('slow', after(80, ok('from slow')), 0);
  const fast = endpoint('fast', ok('from fast'), 1);
  for (let i = 0; i < 4; i++) await g.execute(call([slow, fast])); // 4 more: 2.9
  t.is(events.filter((e) => e.type === 'hedge').length, 2);
  t.is(fast.attempts.length, 2);
});

test('the lowest tier with an admissible endpoint takes every call', async (t) => {
  const { g } = governor();
  const local = endpoint('local', ok('local'), 0);
  const sibling = endpoint('sibling', ok('sibling'), 2);
  for (let i = 0; i < 20; i++) t.is(text(await g.execute(call([sibling, local]))), 'local');
  t.is(sibling.attempts.length, 0);
});

test('calls move to the next tier once the lower tier is ejected', async (t) => {
  const { g, events } = governor(policy({ outlier: { consecutiveFailures: 2, ejectionMs: 60_000, maxEjectedPercent: 50 } }));
  const local = endpoint('local', fail('HEARTH_ERR_APP_ERROR'), 0);
  const peer = endpoint('peer', ok('peer'), 1);
  await t.throwsAsync(g.execute(call([local, peer])), { code: 'HEARTH_ERR_APP_ERROR' });
  await t.throwsAsync(g.execute(call([local, peer])), { code: 'HEARTH_ERR_APP_ERROR' });
  t.deepEqual(events, [{ type: 'ejected', target: 'target', endpoint: 'local', code: 'HEARTH_ERR_APP_ERROR' }]);
  t.is(text(await g.execute(call([local, peer]))), 'peer');
  t.is(local.attempts.length, 2);
});

test('an ejected endpoint gets one probe once its ejection time is up, and traffic returns when it succeeds', async (t) => {
  let clock = Date.now();
  const { g, events } = governor(policy({ outlier: { consecutiveFailures: 1, ejectionMs: 10_000, maxEjectedPercent: 50 } }), {
    now: () => clock,
  });
  let healthy = false;
  const local = endpoint('local', async () => {
    if (!healthy) throw new HearthError('HEARTH_ERR_APP_ERROR');
    return answer('local');
  }, 0);
  const peer = endpoint('peer', ok('peer'), 1);
  const at = () => ({ deadline: clock + 5_000 });
  await t.throwsAsync(g.execute(call([local, peer], at())), { code: 'HEARTH_ERR_APP_ERROR' });
  t.is(text(await g.execute(call([local, peer], at()))), 'peer');
  clock += 10_000;
  healthy = true;
  t.is(text(await g.execute(call([local, peer], at()))), 'local', 'the probe');
  t.is(text(await g.execute(call([local, peer], at()))), 'local');
  t.deepEqual(events.map((e) => e.type), ['ejected', 'readmitted']);
});

test('a retry falls back to the next tier when the tier is exhausted', async (t) => {
  const { g } = governor();
  const local = endpoint('local', fail('HEARTH_ERR_DRAINING'), 0);
  const sibling = endpoint('sibling', ok('sibling'), 2);
  t.is(text(await g.execute(call([local, sibling]))), 'sibling');
});

test('the breaker opens on failures and then refuses calls with CIRCUIT_OPEN without sending', async (t) => {
  const { g, events } = governor(policy({ breaker: { failureRatio: 0.5, minRequests: 2, windowMs: 10_000, openMs: 60_000 } }));
  const broken = endpoint('broken', fail('HEARTH_ERR_APP_ERROR'));
  await t.throwsAsync(g.execute(call([broken])), { code: 'HEARTH_ERR_APP_ERROR' });
  await t.throwsAsync(g.execute(call([broken])), { code: 'HEARTH_ERR_APP_ERROR' });
  t.is(g.breakerState(), 'open');
  t.deepEqual(events, [{ type: 'breaker-open', target: 'target' }]);
  await t.throwsAsync(g.execute(call([broken])), { code: 'HEARTH_ERR_CIRCUIT_OPEN' });
  t.is(broken.attempts.length, 2);
});

test('a half-open breaker closes when its probe call succeeds', async (t) => {
  let clock = Date.now();
  const { g, events } = governor(policy({ breaker: { failureRatio: 0.5, minRequests: 2, windowMs: 10_000, openMs: 5_000 } }), {
    now: () => clock,
  });
  let healthy = false;
  const e0 = endpoint('e0', async () => {
    if (!healthy) throw new HearthError('HEARTH_ERR_APP_ERROR');
    return answer('recovered');
  });
  const at = () => ({ deadline: clock + 5_000 });
  await t.throwsAsync(g.execute(call([e0], at())), { code: 'HEARTH_ERR_APP_ERROR' });
  await t.throwsAsync(g.execute(call([e0], at())), { code: 'HEARTH_ERR_APP_ERROR' });
  t.is(g.breakerState(), 'open');
  clock += 5_000;
  healthy = true;
  t.is(text(await g.execute(call([e0], at()))), 'recovered');
  t.is(g.breakerState(), 'closed');
  t.deepEqual(events.map((e) => e.type), ['breaker-open', 'breaker-closed']);
});
