// Outlier ejection on an injected clock: N consecutive failures eject an endpoint, the cap keeps
// enough endpoints in rotation, and a half-open probe re-admits or re-ejects for longer.
import test from 'ava';
import type { OutlierPolicy } from '../../agent/config/config-schema.js';
import { OutlierDetector } from '../../agent/mesh/governance/outlier-detector.js';

const POLICY: OutlierPolicy = { consecutiveFailures: 3, ejectionMs: 1_000, maxEjectedPercent: 50 };

function setup(policy: OutlierPolicy = POLICY, n = 4) {
  let t = 1_000_000;
  const detector = new OutlierDetector(policy, () => t);
  const endpoints = Array.from({ length: n }, (_, i) => ({ id: `e${i}` }));
  const ids = () => detector.available(endpoints).map((e) => e.id);
  ids(); // tells the detector the population
  const fail = (id: string, times: number) => {
    const transitions = [];
    for (let i = 0; i < times; i++) {
      const probe = detector.onSend(id);
      transitions.push(detector.onResult(id, false, probe));
    }
    return transitions;
  };
  return { detector, endpoints, ids, fail, advance: (ms: number) => (t += ms) };
}

test('an endpoint is ejected after the configured consecutive failures, and not before', (t) => {
  const { ids, fail } = setup();
  t.deepEqual(fail('e0', 2), [undefined, undefined]);
  t.deepEqual(ids(), ['e0', 'e1', 'e2', 'e3']);
  t.deepEqual(fail('e0', 1), ['ejected']);
  t.deepEqual(ids(), ['e1', 'e2', 'e3']);
});

test('a success in between resets the run of failures', (t) => {
  const { detector, ids, fail } = setup();
  fail('e0', 2);
  detector.onResult('e0', true, detector.onSend('e0'));
  fail('e0', 2);
  t.deepEqual(ids(), ['e0', 'e1', 'e2', 'e3']);
});

test('never more than maxEjectedPercent of endpoints are ejected', (t) => {
  const { ids, fail } = setup();
  t.deepEqual(fail('e0', 3).at(-1), 'ejected');
  t.deepEqual(fail('e1', 3).at(-1), 'ejected');
  // 50 % of 4 = 2: the third failing endpoint stays in rotation.
  t.deepEqual(fail('e2', 3), [undefined, undefined, undefined]);
  t.deepEqual(ids(), ['e2', 'e3']);
});

test('at least one endpoint stays available even at maxEjectedPercent 100', (t) => {
  const { ids, fail } = setup({ ...POLICY, maxEjectedPercent: 100 }, 2);
  t.is(fail('e0', 3).at(-1), 'ejected');
  t.deepEqual(fail('e1', 3), [undefined, undefined, undefined]);
  t.deepEqual(ids(), ['e1']);
});

test('after the ejection time exactly one probe is let through; success re-admits', (t) => {
  const { detector, ids, fail, advance } = setup();
  fail('e0', 3);
  advance(999);
  t.false(ids().includes('e0'));
  advance(1);
  t.true(ids().includes('e0'), 'half-open: admissible for one probe');
  t.true(detector.onSend('e0'), 'the first send is the probe');
  t.false(ids().includes('e0'), 'no second call while the probe is out');
  t.is(detector.onResult('e0', true, true), 'readmitted');
  t.deepEqual(ids(), ['e0', 'e1', 'e2', 'e3']);
  t.false(detector.onSend('e0'));
});

test('a failed probe ejects again for twice as long', (t) => {
  const { detector, ids, fail, advance } = setup();
  fail('e0', 3);
  advance(1_000);
  t.true(detector.onSend('e0'));
  t.is(detector.onResult('e0', false, true), 'ejected');
  advance(1_999);
  t.false(ids().includes('e0'));
  advance(1);
  t.true(ids().includes('e0'));
});

test('ejection time doubles per repeated ejection and is capped at 10x', (t) => {
  const { detector, ids, fail, advance } = setup();
  fail('e0', 3);
  const durations: number[] = [];
  for (let round = 0; round < 6; round++) {
    let waited = 0;
    while (!ids().includes('e0')) {
      advance(100);
      waited += 100;
    }
    durations.push(waited);
    t.is(detector.onResult('e0', false, detector.onSend('e0')), 'ejected');
  }
  t.deepEqual(durations, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
});

test('a late result of a call sent before the ejection neither re-admits nor consumes the probe', (t) => {
  const { detector, ids, fail, advance } = setup();
  fail('e0', 3);
  t.is(detector.onResult('e0', true, false), undefined);
  t.false(ids().includes('e0'));
  advance(1_000);
  t.true(ids().includes('e0'));
});

test('an abandoned probe frees the probe slot', (t) => {
  const { detector, ids, fail, advance } = setup();
  fail('e0', 3);
  advance(1_000);
  t.true(detector.onSend('e0'));
  detector.onAbandon('e0', true);
  t.true(ids().includes('e0'));
});

test('the ejection count resets after the endpoint stays healthy long enough', (t) => {
  const { detector, ids, fail, advance } = setup();
  fail('e0', 3);
  advance(1_000);
  detector.onResult('e0', false, detector.onSend('e0')); // second ejection: 2 s
  advance(2_000);
  t.is(detector.onResult('e0', true, detector.onSend('e0')), 'readmitted');
  advance(10_000); // healthy for 10× the base ejection time
  fail('e0', 3);
  advance(1_000);
  t.true(ids().includes('e0'), 'back to the first ejection time');
});

test('forget drops an endpoint that disappeared', (t) => {
  const { detector, endpoints, fail } = setup();
  fail('e0', 3);
  detector.forget('e0');
  t.false(detector.isEjected('e0'));
  t.deepEqual(detector.available(endpoints).map((e) => e.id), ['e0', 'e1', 'e2', 'e3']);
});
