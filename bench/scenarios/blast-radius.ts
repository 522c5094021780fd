// Blast radius (issue #5's noisy neighbour, widened by issue #12): one agent, a quiet app making 1 KB
// state gets over wire open loop at the target rate, alone and beside each thing a hostile app can
// do to the agent it shares: flood requests past its quota, flood writes with no quota at all,
// subscribe and never read, spam subscriptions, hoard connections, send crafted payloads, and
// fill the sibling port with connections that never begin TLS (load/abuses.ts).
//
// Measured in rounds: in each round the quiet app runs once alone and once beside every abuse, the
// order reversed every other round, so drift on the shared machine falls on all alike; a row's
// rounds pair with the alone row's (its p99 ratio is the median of the per-round ratios). The
// floods' generators and the abuses run on the same two cores, as another app on the host would.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stopChild } from '../../test/support/child-process.js';
import { freePort } from '../../test/support/free-port.js';
import { makeTlsFiles } from '../../test/support/tls-certs.js';
import { startHearth, type HearthApp, type HearthInstance } from '../harness/hearth-instance.js';
import type { UsageResult } from '../harness/usage-monitor.js';
import { abuses, type Abuse, type AbuseContext } from '../load/abuses.js';
import { runLoad } from '../load/load-generator.js';
import type { LoadResult, TargetSpec } from '../load/load-protocol.js';
import { mergeLoadResults, mergeUsage } from '../load/merge-results.js';
import type { LatencyRow, RoundFigures } from '../report/report-types.js';
import { logResult, measured, openLoopRow } from './measure.js';
import type { Scenario, ScenarioContext } from './scenario.js';

const QUIET: HearthApp = { id: 'quiet', token: 'bench-token-quiet-0123456789abcdef' };
/**
 * Host-wide (issue #12: an app's quota holds across the workers): 200 req/s and 8 calls in flight,
 * so the noisy app is admitted at most a fifth of the quiet app's rate — the row measures what
 * refusing the rest of the flood costs the quiet app, not what serving a second full load does.
 */
const NOISY_QUOTA = { maxInFlight: 8, requestsPerSecond: 200, burstSeconds: 1 };
const NOISY: HearthApp = { id: 'noisy', token: 'bench-token-noisy-0123456789abcdef', quota: NOISY_QUOTA };
/** No quota at all: what one app's unlimited writes cost the others (the fair share of each turn is all that bounds it). */
const WRITER: HearthApp = { id: 'writer', token: 'bench-token-writer-0123456789abcdef' };
const CLUSTER_TOKEN = 'bench-cluster-token-0123456789abcdef';
const DRAIN_TIMEOUT_MS = 10_000;
const LATER_ROUND_WARMUP_MS = 1_000;
/** An abuse starts this long before the quiet app's load, and runs until after it ends. */
const ABUSE_LEAD_MS = 500;
const ABUSE_TAIL_MS = 1_000;

export const QUIET_ALONE_ID = 'noisy-quiet-alone';
export const QUIET_FLOODED_ID = 'noisy-quiet-flooded';
export const FLOOD_ID = 'noisy-flood';
export const WRITE_FLOOD_ID = 'blast-quiet-write-flood';
export const CPU_NEIGHBOUR_ID = 'blast-quiet-cpu-neighbour';
/** The control's duty cycle: busy this many ms of every CPU_NEIGHBOUR_PERIOD_MS (0.4 of a core). */
const CPU_NEIGHBOUR_BUSY_MS = 4;
const CPU_NEIGHBOUR_PERIOD_MS = 10;
export const blastRowId = (abuse: Abuse): string => `blast-quiet-${abuse.id}`;

/** One thing done beside the quiet app: runs for `durationMs`, resolves with what came of it. */
interface Beside {
  readonly id: string;
  readonly title: string;
  run(durationMs: number, onStarted: () => void): Promise<string>;
}

interface Acc {
  results: LoadResult[];
  usages: UsageResult[];
  rounds: RoundFigures[];
  outcomes: string[];
}

const newAcc = (): Acc => ({ results: [], usages: [], rounds: [], outcomes: [] });

const figures = (result: LoadResult): RoundFigures => ({
  p50: result.latency.p50, p99: result.latency.p99, requests: result.requests, errors: result.errors,
  sendLagP99: result.sendLag?.p99 ?? null, loadAverage1m: os.loadavg()[0] ?? 0,
});

function wireTarget(hearth: HearthInstance, app: HearthApp, op: 'get' | 'save', payloadBytes: number): TargetSpec {
  return { kind: 'hearth-wire', op, storeName: 'default', socketPath: hearth.socket(app.id, 'wire'), token: app.token, payloadBytes };
}

async function quietRound(ctx: ScenarioContext, hearth: HearthInstance, warmupMs: number, roundMs: number, acc: Acc, label: string): Promise<void> {
  const s = ctx.settings;
  const { result, usage } = await measured(hearth, (onPhase) => runLoad({
    type: 'open-loop', target: wireTarget(hearth, QUIET, 'get', s.payloadBytes), rate: s.rate, warmupMs, durationMs: roundMs,
    connections: s.connections, drainTimeoutMs: DRAIN_TIMEOUT_MS,
  }, ctx.cleanup, onPhase));
  acc.results.push(result);
  acc.usages.push(usage);
  acc.rounds.push(figures(result));
  logResult(ctx, label, result, usage);
}

/** The quiet round with `beside` running from ABUSE_LEAD_MS before it until after it. */
async function besideRound(ctx: ScenarioContext, hearth: HearthInstance, warmupMs: number, roundMs: number, acc: Acc,
  beside: Beside, label: string): Promise<void> {
  let started: () => void = () => undefined;
  const startedOnce = new Promise<void>((resolve) => {
    started = resolve;
  });
  const running = beside.run(ABUSE_LEAD_MS + warmupMs + roundMs + ABUSE_TAIL_MS, started);
  try {
    await Promise.race([startedOnce, running]);
    await quietRound(ctx, hearth, warmupMs, roundMs, acc, label);
  } finally {
    const outcome = await running;
    acc.outcomes.push(outcome);
    ctx.log(`[${beside.id}] ${outcome}`);
  }
}

/** A closed-loop flood in a forked load worker; its results are kept in `into`. */
function flood(ctx: ScenarioContext, hearth: HearthInstance, id: string, title: string, app: HearthApp, op: 'get' | 'save', into: LoadResult[]): Beside {
  return {
    id,
    title,
    async run(durationMs, onStarted) {
      const s = ctx.settings;
      const result = await runLoad({
        type: 'closed-loop', target: wireTarget(hearth, app, op, s.payloadBytes), concurrency: s.closedConcurrency,
        warmupMs: ABUSE_LEAD_MS, durationMs: durationMs - ABUSE_LEAD_MS, drainTimeoutMs: DRAIN_TIMEOUT_MS,
      }, ctx.cleanup, (phase) => {
        if (phase === 'measuring') onStarted();
      });
      into.push(result);
      return `${result.requests.toLocaleString('en-US')} requests, ${result.achievedRate.toFixed(0)} ok/s, refused by code: ${JSON.stringify(result.errorCodes ?? {})}`;
    },
  };
}

/**
 * The control: a process on the host that never talks to the agent and keeps 0.4 of a core busy
 * (about what the abuses cost the agent's workers). What it does to the quiet app's tail is what
 * any busy neighbour on a shared 2-core machine does; an abuse is the agent's fault only beyond it.
 */
function cpuNeighbour(ctx: ScenarioContext): Beside {
  const script = `const end = Date.now() + Number(process.argv[1]);
    const spin = () => { const until = Date.now() + ${CPU_NEIGHBOUR_BUSY_MS}; while (Date.now() < until); if (Date.now() < end) setTimeout(spin, ${CPU_NEIGHBOUR_PERIOD_MS - CPU_NEIGHBOUR_BUSY_MS}); };
    spin();`;
  return {
    id: 'cpu-neighbour',
    title: 'control: a process that never calls the agent, keeping 0.4 of a core busy',
    async run(durationMs, onStarted) {
      const child = spawn(process.execPath, ['-e', script, String(durationMs)], { stdio: 'ignore' });
      const unregister = ctx.cleanup.add('cpu neighbour', () => stopChild(child, 1_000));
      setTimeout(onStarted, ABUSE_LEAD_MS).unref();
      await new Promise<void>((resolve) => child.once('exit', () => resolve()));
      unregister();
      return `busy ${CPU_NEIGHBOUR_BUSY_MS} ms of every ${CPU_NEIGHBOUR_PERIOD_MS} ms for ${(durationMs / 1000).toFixed(1)} s`;
    },
  };
}

function abuseBeside(abuse: Abuse, actx: AbuseContext): Beside {
  return {
    id: abuse.id,
    title: abuse.title,
    run(durationMs, onStarted) {
      const running = abuse.run(actx, durationMs);
      setTimeout(onStarted, ABUSE_LEAD_MS).unref();
      return running;
    },
  };
}

function rowOf(ctx: ScenarioContext, id: string, scenario: string, baselineId: string | null, acc: Acc): LatencyRow {
  const meta = { id, scenario, transport: 'wire', baselineId };
  return { ...openLoopRow(ctx, meta, mergeLoadResults(acc.results), mergeUsage(acc.usages)), rounds: acc.rounds };
}

function floodRow(ctx: ScenarioContext, flooded: LoadResult[], usage: UsageResult): LatencyRow {
  const r = mergeLoadResults(flooded);
  const refused = r.errorCodes?.HEARTH_ERR_RESOURCE_EXHAUSTED ?? 0;
  return {
    kind: 'latency', id: FLOOD_ID, transport: 'wire', mode: 'closed', baselineId: null, targetRate: null,
    scenario: `noisy app: state get flood, ${ctx.settings.closedConcurrency} in flight, quota ${NOISY_QUOTA.requestsPerSecond} req/s and `
      + `${NOISY_QUOTA.maxInFlight} in flight host-wide — ${refused.toLocaleString('en-US')} of ${r.requests.toLocaleString('en-US')} `
      + 'refused with HEARTH_ERR_RESOURCE_EXHAUSTED',
    concurrency: ctx.settings.closedConcurrency, connections: ctx.settings.closedConcurrency, achievedRate: r.achievedRate,
    perWorkerRate: null, requests: r.requests, errors: r.errors, latencyMs: r.latency, sendLagMs: null,
    generatorCpuPercent: r.generatorCpuPercent, loadAverage1m: os.loadavg()[0] ?? 0, server: usage,
    errorSamples: r.errorSamples.filter((e) => !e.includes('RESOURCE_EXHAUSTED')), errorCodes: r.errorCodes ?? {},
  };
}

/** An agent with the quiet app, every abuser, and a sibling port (TLS on loopback) for the pre-TLS flood. */
async function startAgent(ctx: ScenarioContext): Promise<{ hearth: HearthInstance; siblingPort: number; stop: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hb-blast-'));
  const unregisterDir = ctx.cleanup.add('blast-radius certificates', async () => rmSync(dir, { recursive: true, force: true }));
  try {
    const { caFile, certFile, keyFile } = await makeTlsFiles(dir);
    const siblingPort = await freePort();
    const abusers = new Map(abuses.flatMap((a) => a.apps).map((a) => [a.id, a]));
    const hearth = await startHearth(ctx.cleanup, {
      apps: [QUIET, NOISY, WRITER, ...abusers.values()],
      label: 'ops-agent + 2 workers (quiet app + abusers)',
      settings: {
        siblings: { agentId: 'blast', listen: { host: '127.0.0.1', port: siblingPort }, tls: { caFile, certFile, keyFile }, token: CLUSTER_TOKEN },
      },
    });
    return {
      hearth,
      siblingPort,
      stop: async () => {
        await hearth.stop();
        unregisterDir();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    unregisterDir();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export const blastRadiusScenario: Scenario = {
  kind: 'custom',
  id: 'blast-radius',
  title: 'quiet app\'s state gets alone and beside each abuse of a hostile app (one agent, rounds)',
  requires: [],
  async run(ctx) {
    const s = ctx.settings;
    const agent = await startAgent(ctx);
    const { hearth } = agent;
    try {
      const floods: LoadResult[] = [];
      const writes: LoadResult[] = [];
      const besides: Beside[] = [
        cpuNeighbour(ctx),
        flood(ctx, hearth, 'quota-flood', 'noisy app: state get flood past its quota', NOISY, 'get', floods),
        flood(ctx, hearth, 'write-flood', 'writer app: state save flood, no quota', WRITER, 'save', writes),
        ...abuses.map((a) => abuseBeside(a, { hearth, siblingPort: agent.siblingPort })),
      ];
      const rounds = Math.max(2, Math.min(s.rounds, 3));
      const roundMs = Math.max(1_000, Math.min(8_000, Math.round(s.durationMs / rounds / 2)));
      ctx.log(`[blast-radius] ${rounds} rounds × ${besides.length + 1} segments of ${roundMs / 1000} s (quiet alone, then beside `
        + `${besides.map((b) => b.id).join(', ')}); quiet ${s.rate} req/s over ${s.connections} connections`);
      const alone = newAcc();
      const beside = new Map(besides.map((b) => [b.id, newAcc()]));
      for (let round = 0; round < rounds && !ctx.cleanup.closed; round++) {
        const warmupMs = round === 0 ? s.warmupMs : Math.min(s.warmupMs, LATER_ROUND_WARMUP_MS);
        const tag = `${round + 1}/${rounds}`;
        const segments: (() => Promise<void>)[] = [
          () => quietRound(ctx, hearth, warmupMs, roundMs, alone, `${QUIET_ALONE_ID} ${tag}`),
          ...besides.map((b) => () => besideRound(ctx, hearth, Math.min(warmupMs, LATER_ROUND_WARMUP_MS), roundMs, beside.get(b.id) ?? newAcc(), b,
            `quiet beside ${b.id} ${tag}`)),
        ];
        if (round % 2 === 1) segments.reverse();
        for (const segment of segments) {
          if (ctx.cleanup.closed) break;
          await segment();
        }
      }
      if (floods.length === 0) return [];
      const accOf = (id: string): Acc => beside.get(id) ?? newAcc();
      return [
        rowOf(ctx, QUIET_ALONE_ID, 'quiet app: state get 1 KB, alone', null, alone),
        rowOf(ctx, CPU_NEIGHBOUR_ID, 'quiet app, beside the control: a process that never calls the agent, keeping 0.4 of a core busy', QUIET_ALONE_ID, accOf('cpu-neighbour')),
        rowOf(ctx, QUIET_FLOODED_ID, 'quiet app: state get 1 KB, beside the noisy app\'s flood past its quota', QUIET_ALONE_ID, accOf('quota-flood')),
        floodRow(ctx, floods, mergeUsage(accOf('quota-flood').usages)),
        rowOf(ctx, WRITE_FLOOD_ID, `quiet app, beside another app's state save flood with no quota (${s.closedConcurrency} in flight; `
          + `${mergeLoadResults(writes).achievedRate.toFixed(0)} saves/s)`, QUIET_ALONE_ID, accOf('write-flood')),
        ...abuses.map((a) => rowOf(ctx, blastRowId(a), `quiet app, beside: ${a.title} — ${accOf(a.id).outcomes.at(-1) ?? ''}`, QUIET_ALONE_ID, accOf(a.id))),
      ];
    } finally {
      await agent.stop();
    }
  },
};
