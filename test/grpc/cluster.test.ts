// The production shape: workers of a cluster primary (SCHED_NONE) share one grpc.sock. One
// worker closes mid-traffic: its clients get GOAWAY and reconnect to the other, no call fails.
import test from 'ava';
import { assertClusterHandover } from '../helpers/cluster-handover.js';

test('two cluster workers serve one grpc.sock; closing one fails no call', (t) => assertClusterHandover(t, 'grpc', 60_000));
