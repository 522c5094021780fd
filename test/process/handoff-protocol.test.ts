// The ops-agent ↔ worker protocol: what one build writes, another parses; anything malformed or
// of an unknown version is rejected with a reason, never trusted.
import test from 'ava';
import {
  HANDOFF_PROTOCOL_VERSION,
  isHandoffEnvelope,
  parsePrimaryMessage,
  parseWorkerMessage,
  primaryMessages,
  workerMessages,
  type WorkerStatus,
} from '../../upgrade/handoff-protocol.js';

const status: WorkerStatus = {
  pid: 42,
  version: '0.1.0',
  generation: 3,
  uptimeMs: 1200,
  rssBytes: 50_000_000,
  heapUsedBytes: 20_000_000,
  connections: { demo: { grpc: 1, http: 2 } },
  components: [
    { name: 'default', type: 'state.sqlite', healthy: true },
    { name: 'cache', type: 'state.redis', healthy: false, detail: 'ECONNREFUSED' },
  ],
};

/** Through JSON, as cluster IPC carries it. */
const wire = (m: unknown): unknown => JSON.parse(JSON.stringify(m));

test('every message built here parses back unchanged', (t) => {
  const fromWorker = [
    workerMessages.ready({ version: '0.1.0', generation: 1, pid: 7 }),
    workerMessages.failed('HEARTH_ERR_CONFIG_INVALID', 'bad'),
    workerMessages.statusResponse('r1', status),
    workerMessages.metricsResponse('r2', [
      { name: 'hearth_requests_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ value: 3, labels: { app: 'demo' } }] },
    ]),
    workerMessages.drained(),
  ];
  for (const m of fromWorker) {
    t.is(m.hearth, HANDOFF_PROTOCOL_VERSION);
    t.deepEqual(parseWorkerMessage(wire(m)), { ok: true, message: m });
  }
  const fromPrimary = [primaryMessages.statusRequest('a'), primaryMessages.metricsRequest('b'), primaryMessages.drain(5000)];
  for (const m of fromPrimary) t.deepEqual(parsePrimaryMessage(wire(m)), { ok: true, message: m });
  t.is(workerMessages.ready({ version: 'x', generation: 0, pid: 1 }).protocol, HANDOFF_PROTOCOL_VERSION);
});

test('unknown versions, unknown types and messages of the other direction are rejected', (t) => {
  const r1 = parseWorkerMessage({ ...workerMessages.drained(), hearth: 99 });
  t.false(r1.ok);
  if (!r1.ok) t.regex(r1.reason, /unsupported protocol version 99/);
  const r2 = parseWorkerMessage({ hearth: 1, type: 'explode' });
  t.false(r2.ok);
  if (!r2.ok) t.regex(r2.reason, /unknown message type "explode"/);
  t.false(parseWorkerMessage(primaryMessages.drain(1)).ok);
  t.false(parsePrimaryMessage(workerMessages.drained()).ok);
  t.false(parseWorkerMessage(null).ok);
  t.false(parseWorkerMessage([1]).ok);
});

test('malformed fields are named in the reason', (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ hearth: 1, type: 'ready', version: '1', protocol: 1, generation: -1, pid: 3 }, /ready\.generation: must be an integer >= 0/],
    [{ hearth: 1, type: 'ready', version: '', protocol: 1, generation: 1, pid: 3 }, /ready\.version/],
    [{ hearth: 1, type: 'failed', code: 'X' }, /failed\.message/],
    [{ hearth: 1, type: 'status-response', requestId: 'r', status: { ...status, connections: { demo: { grpc: 'many', http: 0 } } } }, /status\.connections\.demo\.grpc/],
    [{ hearth: 1, type: 'status-response', requestId: 'r', status: { ...status, held: { demo: { streams: 1, bufferedBytes: -5, pendingCallbacks: 0 } } } }, /status\.held\.demo\.bufferedBytes/],
    [{ hearth: 1, type: 'status-response', requestId: 'r', status: { ...status, components: [{ name: 'a', type: 'b', healthy: 'yes' }] } }, /status\.components\[0\]\.healthy/],
    [{ hearth: 1, type: 'metrics-response', requestId: 'r', metrics: [{ name: 'm', help: '', type: 'counter', aggregator: 'evil', values: [] }] }, /metrics\[0\]\.aggregator/],
    [{ hearth: 1, type: 'metrics-response', requestId: 'r', metrics: {} }, /metrics-response\.metrics: must be an array/],
    [{ hearth: 1, type: 'status-response', requestId: 'x'.repeat(500), status }, /requestId/],
  ];
  for (const [m, reason] of cases) {
    const r = parseWorkerMessage(m);
    t.false(r.ok, JSON.stringify(m).slice(0, 120));
    if (!r.ok) t.regex(r.reason, reason);
  }
  const d = parsePrimaryMessage({ hearth: 1, type: 'drain', deadlineMs: 'soon' });
  t.false(d.ok);
  if (!d.ok) t.regex(d.reason, /drain\.deadlineMs/);
});

test('additive fields from a newer build of the same version are tolerated', (t) => {
  const r = parseWorkerMessage({ ...workerMessages.ready({ version: '0.2.0', generation: 2, pid: 9 }), capabilities: ['wire'] });
  t.true(r.ok);
});

test('only objects with a `hearth` tag are claimed as protocol messages', (t) => {
  t.true(isHandoffEnvelope({ hearth: 1, type: 'drained' }));
  t.false(isHandoffEnvelope({ type: 'prom-client:getMetricsReq' }));
  t.false(isHandoffEnvelope('ready'));
});
