// The memory floor under the idle-worker budget: what a Node process costs before it serves
// anything — bare, and with the libraries an agent worker loads imported — beside a fresh agent's
// idle workers as shipped and with a smaller V8 young generation (--max-semi-space-size=1, passed
// to the workers through the ops-agent's execArgv). Measured so the closing note can say what
// dominates the idle RSS and what a flag would buy.
import { fork } from 'node:child_process';
import path from 'node:path';
import { stopChild, waitForExit } from '../../test/support/child-process.js';
import { startHearth } from '../harness/hearth-instance.js';
import { readPssKb, readRssKb } from '../harness/proc-usage.js';
import { distRoot } from '../../test/support/repo-root.js';
import type { ProcessMemoryRow } from '../report/report-types.js';
import type { Scenario, ScenarioContext } from './scenario.js';
import { sleep } from '../../test/support/wait.js';

/** The third-party modules agent/ imports (see `grep from agent/`). */
const WORKER_LIBRARIES = ['@grpc/grpc-js', '@grpc/proto-loader', '@grpc/reflection', 'grpc-health-check', 'fastify',
  'better-sqlite3', 'pino', 'prom-client', 'ajv', 'yaml'];
const SETTLE_MS = 3_000;
const mb = (kb: number | null): number => (kb ?? 0) / 1024;

async function probe(ctx: ScenarioContext, id: string, scenario: string, modules: string[]): Promise<ProcessMemoryRow> {
  const child = fork(path.join(distRoot, 'bench', 'servers', 'import-probe.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const unregister = ctx.cleanup.add('import probe', () => stopChild(child, 3_000));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('import probe: no answer in 30 s')), 30_000);
      child.once('message', (message: unknown) => {
        clearTimeout(timer);
        const type = (message as { type?: unknown }).type;
        if (type === 'loaded') resolve();
        else reject(new Error(`import probe failed: ${JSON.stringify(message)}`));
      });
      child.send({ type: 'import', modules });
    });
    const pid = child.pid ?? 0;
    const row: ProcessMemoryRow = { kind: 'process-memory', id, scenario, processes: 1, rssMb: mb(readRssKb(pid)), pssMb: mb(readPssKb(pid)) };
    ctx.log(`[${id}] RSS ${row.rssMb.toFixed(1)} MB, PSS ${row.pssMb.toFixed(1)} MB`);
    return row;
  } finally {
    if (child.connected) child.disconnect();
    if (!(await waitForExit(child, 3_000))) await stopChild(child, 3_000);
    unregister();
  }
}

async function idleWorkers(ctx: ScenarioContext, id: string, scenario: string, execArgv: string[]): Promise<ProcessMemoryRow> {
  const hearth = await startHearth(ctx.cleanup, { execArgv });
  try {
    await sleep(SETTLE_MS);
    const pids = hearth.workerPids();
    const rss = Math.max(...pids.map((pid) => mb(readRssKb(pid))));
    const pss = Math.max(...pids.map((pid) => mb(readPssKb(pid))));
    ctx.log(`[${id}] ${pids.length} workers, largest RSS ${rss.toFixed(1)} MB, PSS ${pss.toFixed(1)} MB`);
    return { kind: 'process-memory', id, scenario, processes: pids.length, rssMb: rss, pssMb: pss };
  } finally {
    await hearth.stop();
  }
}

export const memoryFloorScenario: Scenario = {
  kind: 'custom',
  id: 'memory-floor',
  title: 'memory floor: bare Node, Node with the worker\'s libraries, idle worker with a small young generation',
  requires: [],
  async run(ctx) {
    return [
      await probe(ctx, 'node-bare', 'bare Node process (idle)', []),
      await probe(ctx, 'node-libraries', 'Node with the worker\'s libraries imported (idle)', WORKER_LIBRARIES),
      await idleWorkers(ctx, 'worker-idle', 'idle agent worker, as shipped (largest)', []),
      await idleWorkers(ctx, 'worker-idle-semi1', 'idle agent worker, --max-semi-space-size=1 (largest)', ['--max-semi-space-size=1']),
    ];
  },
};
