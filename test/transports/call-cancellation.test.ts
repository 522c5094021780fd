// A call's Cancellation (CallCore.onAbort): what the invoke path listens with instead of an
// AbortSignal. Listeners run once, at the first abort, with its reason; an unsubscribed one never
// runs; one added after the abort runs at once; and the signal, when someone does ask for it,
// agrees with them.
import test from 'ava';
import { pino } from 'pino';
import { HearthError } from '../../agent/errors/hearth-error.js';
import { AgentMetrics } from '../../agent/observability/metrics.js';
import { CallCore } from '../../agent/transports/call-core.js';

function core(): CallCore {
  return new CallCore({ metrics: new AgentMetrics(), logger: pino({ level: 'silent' }) }, 'wire', 'invoke.invoke', {});
}

test('listeners run once at the first abort with its reason; an unsubscribed one never runs', (t) => {
  const call = core();
  const seen: string[] = [];
  call.onAbort((r) => seen.push(`a:${(r as HearthError).code}`));
  const stop = call.onAbort(() => seen.push('b'));
  stop();
  t.false(call.aborted);
  call.cancelled('gone');
  call.abort(new HearthError('HEARTH_ERR_TIMEOUT', 'later'));
  t.true(call.aborted);
  t.deepEqual(seen, ['a:HEARTH_ERR_CANCELLED']);
});

test('a listener added after the abort runs at once; the signal asked for later is aborted with the same reason', (t) => {
  const call = core();
  const failure = new HearthError('HEARTH_ERR_TIMEOUT', 'spent');
  call.fail(failure);
  let reason: Error | undefined;
  const stop = call.onAbort((r) => (reason = r));
  t.is(reason, failure);
  stop();
  t.true(call.signal.aborted);
  t.is(call.signal.reason, failure);
});

test('a signal made before the abort and the listeners both hear it', (t) => {
  const call = core();
  const signal = call.signal;
  let heard = 0;
  call.onAbort(() => (heard += 1));
  call.cancelled();
  t.true(signal.aborted);
  t.is(heard, 1);
});
