// 1,000 concurrent app connections on a fresh agent: idle RSS of each worker first, then the
// connections are opened (one request each) and held idle; RSS again, and the growth per
// connection. One fresh Hearth per transport so neither run inherits the other's heap.
import { startHearth, type HearthInstance } from '../harness/hearth-instance.js';
import { readPssKb, readRssKb, sampleProcesses, totalRssMb } from '../harness/proc-usage.js';
import { holdConnections } from '../load/load-generator.js';
import { monoMs } from '../load/mono-clock.js';
import type { TargetSpec } from '../load/load-protocol.js';
import type { MemoryRow } from '../report/report-types.js';
import type { Scenario, ScenarioContext } from './scenario.js';
import { PROTO_ROOT } from './state-grpc.js';
import { sleep } from '../../test/support/wait.js';

/** Lets startup allocations and the connection burst settle before sampling RSS. */
const SETTLE_MS = 3_000;

function workerMemoryMb(hearth: HearthInstance): { rss: number[]; pss: number[] } {
  const pids = hearth.workerPids();
  return { rss: pids.map((pid) => (readRssKb(pid) ?? 0) / 1024), pss: pids.map((pid) => (readPssKb(pid) ?? 0) / 1024) };
}

const list = (values: number[]): string => values.map((mb) => mb.toFixed(1)).join(' / ');

async function measureIdle(ctx: ScenarioContext, transport: 'gRPC' | 'HTTP'): Promise<MemoryRow> {
  const id = `idle-${transport.toLowerCase()}`;
  const connections = ctx.settings.idleConnections;
  // The app's connection budget (budgets.connectionsPerSocket, 128 per worker by default) would
  // refuse most of them: this row measures what a connection costs, so the budget makes room.
  const hearth = await startHearth(ctx.cleanup, { settings: { budgets: { connectionsPerSocket: connections } } });
  try {
    await sleep(SETTLE_MS);
    const idle = workerMemoryMb(hearth);
    const rssBeforeMb = totalRssMb(sampleProcesses(hearth.pids(), monoMs()));
    ctx.log(`[${id}] fresh agent idle: workers RSS ${list(idle.rss)} MB (PSS ${list(idle.pss)}), `
      + `total ${rssBeforeMb.toFixed(1)} MB; opening ${connections} ${transport} connections`);
    const payloadBytes = ctx.settings.payloadBytes;
    const target: TargetSpec = transport === 'gRPC'
      ? { kind: 'hearth-grpc', op: 'get', storeName: 'default', socketPath: hearth.grpcSocket, protoRoot: PROTO_ROOT, token: hearth.token, payloadBytes }
      : { kind: 'hearth-http', op: 'get', socketPath: hearth.httpSocket, token: hearth.token, payloadBytes };
    const { hold, value } = await holdConnections({
      type: 'hold-connections', target, connections, openTimeoutMs: 30_000, holdTimeoutMs: 120_000,
    }, ctx.cleanup, async () => {
      await sleep(SETTLE_MS);
      return { workers: workerMemoryMb(hearth), total: totalRssMb(sampleProcesses(hearth.pids(), monoMs())) };
    });
    const perConnectionKb = hold.opened > 0 ? ((value.total - rssBeforeMb) * 1024) / hold.opened : 0;
    ctx.log(`[${id}] ${hold.opened} connections held (${hold.errors} errors): workers RSS `
      + `${list(value.workers.rss)} MB (PSS ${list(value.workers.pss)}), total ${value.total.toFixed(1)} MB, `
      + `${perConnectionKb.toFixed(1)} KB per connection`);
    for (const sample of hold.errorSamples) ctx.log(`[${id}]   error: ${sample}`);
    return {
      kind: 'memory', id, scenario: `${connections} idle app connections`, transport, connections,
      opened: hold.opened, errors: hold.errors, rssBeforeMb, rssAfterMb: value.total, perConnectionKb,
      workerRssIdleMb: idle.rss, workerRssWithConnectionsMb: value.workers.rss, workerPssIdleMb: idle.pss,
      workerPssWithConnectionsMb: value.workers.pss, errorSamples: hold.errorSamples,
    };
  } finally {
    await hearth.stop();
  }
}

export const idleConnectionsScenario: Scenario = {
  kind: 'custom',
  id: 'idle-connections',
  title: 'idle RSS and 1,000 concurrent app connections',
  requires: [],
  async run(ctx) {
    return [await measureIdle(ctx, 'gRPC'), await measureIdle(ctx, 'HTTP')];
  },
};
