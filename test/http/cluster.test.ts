// The production shape: workers of a cluster primary (SCHED_NONE) share one http.sock. One worker
// closes mid-traffic: its keep-alive connections close at request boundaries (Connection: close)
// and the clients reconnect to the other worker; no request fails (no EPIPE / ECONNRESET).
import test from 'ava';
import { assertClusterHandover } from '../helpers/cluster-handover.js';

test('two cluster workers serve one http.sock; closing one fails no request', (t) => assertClusterHandover(t, 'http', 90_000));
