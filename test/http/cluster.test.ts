// The production shape: workers of a cluster primary (SCHED_NONE) share one http.sock. One worker
// closes mid-traffic: its keep-alive connections close at request boundaries (Connection: close)
// and the clients reconnect to the other worker; no request fails (no EPIPE / ECONNRESET).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cluster-fixture.js');

interface Result {
  modes: number[];
  servedBy: Record<string, number>;
  failures: string[];
  closedConnections: number;
  closeHeaders: Record<string, number>;
  after: Record<string, number>;
  socketAfterClose: boolean;
}

test('two cluster workers serve one http.sock; closing one fails no request', async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, [fixture], { timeout: 90_000 });
  const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Result;
  t.deepEqual(r.modes, [0o660, 0o660]);
  t.true((r.servedBy['1'] ?? 0) > 0, 'worker 1 served before closing');
  t.true((r.servedBy['2'] ?? 0) > 0, 'worker 2 served');
  t.deepEqual(r.failures, []);
  t.is(r.closedConnections, 0);
  t.deepEqual(r.after, { 2: 10 }); // new connections go to the worker still listening
  t.true(r.socketAfterClose); // the primary keeps the listener while a worker uses it
});
