// Hot upgrades under load (issue #3): two builds packaged by the shipped script, a fresh Hearth,
// open-loop load at the target rate in all, half on gRPC (state get) and half on HTTP (state
// save) at once, and N
// upgrades alternating between the builds through the real CLI (quick 2, full 5). Reported per
// transport: failed requests and p50/p99 over the load window (which holds the upgrades); per
// upgrade: the agent's own hand-off time (new generation ready → old generation exited) and the
// peak total RSS sampled every 50 ms, split into ops-agent, old and new generation, against the
// steady RSS under the same load before the first upgrade.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHearth, type HearthInstance } from '../harness/hearth-instance.js';
import { hearthStatus, packageBuild, upgradeCli, type Artifact } from '../harness/hearth-upgrade.js';
import { RssSampler } from '../harness/rss-sampler.js';
import { UsageMonitor, type UsageResult } from '../harness/usage-monitor.js';
import { runLoad } from '../load/load-generator.js';
import type { LoadResult, OpenLoopJob, TargetSpec } from '../load/load-protocol.js';
import { monoMs } from '../load/mono-clock.js';
import type { LatencyRow, UpgradeFigures } from '../report/report-types.js';
import type { Scenario, ScenarioContext } from './scenario.js';
import { PROTO_ROOT } from './state-grpc.js';
import { sleep } from '../../test/support/wait.js';

/** Load before the first upgrade: the steady RSS is its mean. */
const STEADY_MS = 3_000;
/** Load window per upgrade; the upgrades run back to back from the start of the window. */
const SLOT_MS = 40_000;
/** Between two upgrades, so each new generation serves on its own for a moment. */
const PAUSE_MS = 2_000;
const RSS_PERIOD_MS = 50;
const DRAIN_TIMEOUT_MS = 10_000;
const VERSIONS = ['0.0.0-bench-a', '0.0.0-bench-b'] as const;

const f1 = (n: number): string => n.toFixed(1);

type Upgrade = UpgradeFigures['upgrades'][number];

interface Transport {
  readonly name: 'gRPC' | 'HTTP';
  readonly id: string;
  readonly op: string;
  readonly target: TargetSpec;
}

function transports(ctx: ScenarioContext, hearth: HearthInstance): Transport[] {
  const payloadBytes = ctx.settings.payloadBytes;
  return [
    { name: 'gRPC', id: 'upgrade-grpc', op: 'state get 1 KB', target: { kind: 'hearth-grpc', op: 'get', storeName: 'default', socketPath: hearth.grpcSocket, protoRoot: PROTO_ROOT, token: hearth.token, payloadBytes } },
    { name: 'HTTP', id: 'upgrade-http', op: 'state save 1 KB', target: { kind: 'hearth-http', op: 'save', socketPath: hearth.httpSocket, token: hearth.token, payloadBytes } },
  ];
}

/** Runs `count` upgrades back to back, sampling RSS around each; stops early if the load ended. */
async function runUpgrades(ctx: ScenarioContext, hearth: HearthInstance, artifacts: readonly Artifact[], count: number,
  rss: RssSampler, loadEnded: () => boolean): Promise<Upgrade[]> {
  const done: Upgrade[] = [];
  for (let i = 0; i < count && !ctx.cleanup.closed; i++) {
    if (loadEnded()) throw new Error(`the load window ended before upgrade ${i + 1} of ${count} began`);
    const artifact = artifacts[i % artifacts.length];
    if (artifact === undefined) throw new Error('no artifact');
    const from = monoMs();
    rss.sample();
    const run = await upgradeCli(ctx.cleanup, path.dirname(hearth.adminSocket), artifact);
    rss.sample();
    const to = monoMs();
    hearth.workerPids(); // the harness stops the workers it last saw
    const last = (await hearthStatus(hearth.adminSocket)).upgrade.lastResult;
    const peak = rss.peak(from, to);
    const u: Upgrade = {
      version: artifact.version,
      result: run.code === 0 && last?.result === 'ok' && last.to === artifact.version ? 'ok' : 'failed',
      handoffMs: last?.handoffMs ?? null,
      phases: { ...(last?.phases ?? {}) },
      peakRssMb: peak?.totalMb ?? 0,
      peakPrimaryMb: peak?.primaryMb ?? 0,
      peakOldGenerationMb: peak?.oldMb ?? 0,
      peakNewGenerationMb: peak?.newMb ?? 0,
      ms: to - from,
    };
    done.push(u);
    ctx.log(`[upgrade ${i + 1}/${count} → ${u.version}] ${u.result}: hand-off ${String(u.handoffMs)} ms, ${Math.round(u.ms)} ms in all; `
      + `peak RSS ${f1(u.peakRssMb)} MB (ops-agent ${f1(u.peakPrimaryMb)} + old generation ${f1(u.peakOldGenerationMb)} + new ${f1(u.peakNewGenerationMb)}, ${peak?.processes ?? 0} processes); `
      + `phases ${Object.entries(u.phases).map(([p, ms]) => `${p} ${ms}`).join(', ')}`);
    if (u.result !== 'ok') {
      ctx.log(`[upgrade ${i + 1}] exit ${String(run.code)}: ${(run.stderr || run.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      break;
    }
    if (loadEnded()) throw new Error(`the load window ended before upgrade ${i + 1} of ${count} finished; its figures are not covered`);
    if (i + 1 < count) await sleep(PAUSE_MS);
  }
  return done;
}

function row(ctx: ScenarioContext, t: Transport, rate: number, result: LoadResult, usage: UsageResult, figures: UpgradeFigures): LatencyRow {
  const s = ctx.settings;
  const handoffs = figures.upgrades.map((u) => (u.handoffMs === null ? '?' : String(u.handoffMs))).join(' / ');
  return {
    kind: 'latency', id: t.id, transport: t.name, mode: 'open', baselineId: null, targetRate: rate, concurrency: null,
    scenario: `${t.op} across ${figures.upgrades.length} upgrades (${Math.round(figures.upgradeShare * 100)}% of the window; `
      + `hand-off ${handoffs} ms; RSS peak ${f1(figures.peakRssMb)} vs steady ${f1(figures.steadyRssMb)} MB)`,
    connections: s.connections, achievedRate: result.achievedRate, perWorkerRate: null, requests: result.requests,
    errors: result.errors, latencyMs: result.latency,
    sendLagMs: result.sendLag === null ? null : { p50: result.sendLag.p50, p99: result.sendLag.p99, max: result.sendLag.max },
    generatorCpuPercent: result.generatorCpuPercent, loadAverage1m: os.loadavg()[0] ?? 0, server: usage,
    errorSamples: result.errorSamples, upgrade: figures,
  };
}

async function measure(ctx: ScenarioContext, hearth: HearthInstance, artifacts: readonly Artifact[]): Promise<LatencyRow[]> {
  const s = ctx.settings;
  const count = s.quick ? 2 : 5;
  const windowMs = STEADY_MS + count * SLOT_MS;
  const ts = transports(ctx, hearth);
  const rate = s.rate / ts.length;
  ctx.log(`[upgrade] open loop ${s.rate} req/s in all: ${rate} req/s on each of ${ts.map((t) => `${t.name} (${t.op})`).join(' and ')}, `
    + `${s.connections} connections each, ${windowMs / 1000} s window holding ${count} upgrades`);
  const monitor = new UsageMonitor(hearth);
  const rss = new RssSampler(hearth.rootPid, RSS_PERIOD_MS);
  let measuring = 0;
  let onAllMeasuring: () => void = () => undefined;
  const allMeasuring = new Promise<void>((resolve) => {
    onAllMeasuring = resolve;
  });
  let settled = 0;
  const loads = ts.map(async (t) => {
    const job: OpenLoopJob = {
      type: 'open-loop', target: t.target, rate, warmupMs: s.warmupMs, durationMs: windowMs,
      connections: s.connections, drainTimeoutMs: DRAIN_TIMEOUT_MS,
    };
    try {
      return await runLoad(job, ctx.cleanup, (phase) => {
        if (phase === 'measuring' && ++measuring === ts.length) onAllMeasuring();
      });
    } finally {
      settled++;
    }
  });
  // A load worker that fails before measuring must not leave us waiting for the other one.
  const failed = Promise.all(loads).then(() => undefined);
  await Promise.race([allMeasuring, failed]);
  if (measuring < ts.length) throw new Error('a load worker ended before measuring');

  monitor.begin();
  rss.start();
  const windowStart = monoMs();
  let upgrades: Upgrade[] = [];
  let upgradeError: Error | undefined;
  try {
    await sleep(STEADY_MS);
    upgrades = await runUpgrades(ctx, hearth, artifacts, count, rss, () => settled > 0);
  } catch (err) {
    upgradeError = err instanceof Error ? err : new Error(String(err));
  }
  const outcomes = await Promise.allSettled(loads);
  rss.stop();
  // The monitor compares the first and last process tree; workers replaced in between are counted here.
  const usage = { ...monitor.end(), cpuPercent: rss.cpuPercent(windowStart, monoMs()) };
  if (upgradeError !== undefined) throw upgradeError;
  const results = outcomes.map((o) => {
    if (o.status === 'rejected') throw o.reason instanceof Error ? o.reason : new Error(String(o.reason));
    return o.value;
  });

  const steadyRssMb = rss.meanMb(windowStart, windowStart + STEADY_MS);
  const inUpgrades = upgrades.reduce((sum, u) => sum + u.ms, 0);
  const figures: UpgradeFigures = {
    upgrades,
    steadyRssMb,
    peakRssMb: Math.max(0, ...upgrades.map((u) => u.peakRssMb)),
    upgradeShare: Math.min(1, inUpgrades / windowMs),
  };
  ctx.log(`[upgrade] steady RSS ${f1(steadyRssMb)} MB, peak ${f1(figures.peakRssMb)} MB `
    + `(${(figures.peakRssMb / Math.max(steadyRssMb, 1e-9)).toFixed(2)}×); ${Math.round(inUpgrades / 1000)} s of the ${windowMs / 1000} s window inside upgrades`);
  return ts.map((t, i) => {
    const result = results[i];
    if (result === undefined) throw new Error(`no load result for ${t.name}`);
    ctx.log(`[${t.id}] ${result.requests} requests, ${result.errors} failed; p50 ${result.latency.p50.toFixed(3)} ms, `
      + `p99 ${result.latency.p99.toFixed(3)} ms, max ${result.latency.max.toFixed(1)} ms`);
    for (const sample of result.errorSamples) ctx.log(`[${t.id}]   error: ${sample}`);
    return row(ctx, t, rate, result, usage, figures);
  });
}

export const upgradeUnderLoadScenario: Scenario = {
  kind: 'custom',
  id: 'upgrade',
  title: 'upgrade under load: failed requests, hand-off time, peak RSS of both generations',
  requires: [],
  async run(ctx) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hbu-'));
    const unregisterDir = ctx.cleanup.add('upgrade artifacts', async () => rmSync(dir, { recursive: true, force: true }));
    try {
      const artifacts: Artifact[] = [];
      for (const version of VERSIONS) artifacts.push(await packageBuild(ctx.cleanup, dir, version));
      ctx.log(`[upgrade] packaged ${artifacts.map((a) => path.basename(a.file)).join(', ')}`);
      const hearth = await startHearth(ctx.cleanup, { settings: { upgrade: { allowedFileDirs: [dir] } } });
      try {
        return await measure(ctx, hearth, artifacts);
      } finally {
        await hearth.stop();
      }
    } finally {
      unregisterDir();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
