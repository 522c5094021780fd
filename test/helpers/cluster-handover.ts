// The cluster handover check shared by test/grpc/cluster.test.ts and test/http/cluster.test.ts:
// runs fixtures/cluster-fixture.js for a transport and asserts what it reports.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import type { ClusterResult, TransportName } from '../fixtures/cluster-fixture.js';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'cluster-fixture.js');

export async function assertClusterHandover(t: ExecutionContext, transport: TransportName, timeoutMs: number): Promise<void> {
  const { stdout } = await promisify(execFile)(process.execPath, [fixture, transport], { timeout: timeoutMs });
  const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ClusterResult;
  t.deepEqual(r.modes, [0o660, 0o660]);
  t.true((r.servedBy['1'] ?? 0) > 0, 'worker 1 served before closing');
  t.true((r.servedBy['2'] ?? 0) > 0, 'worker 2 served');
  t.deepEqual(r.failures, []);
  t.is(r.closedConnections, 0);
  t.deepEqual(r.after, { 2: 10 }); // new connections go to the worker still listening
  t.true(r.socketAfterClose); // the primary keeps the listener while a worker uses it
}
