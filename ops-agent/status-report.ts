// What `GET /v1/status` returns and `hearth status` prints: the ops-agent, the active build and
// generation, its workers (of every generation alive, during a hand-off both), each app's
// connections summed across workers, component health as every worker sees it, and the hand-off
// in progress and the last one's result.
import type { HearthConfig } from '../agent/config/load-config.js';
import type { WorkerInfo, WorkerReport } from './supervisor.js';
import type { ActiveBuild, BuildRef, HandoffResult, InProgress } from './upgrade/upgrade-state.js';

export interface StatusWorker extends WorkerInfo {
  /** null when the worker did not answer (see `error`). */
  readonly rssBytes: number | null;
  readonly heapUsedBytes: number | null;
  readonly error?: string;
}

export interface UpgradeStatus {
  readonly active: ActiveBuild | null;
  readonly previous: BuildRef | null;
  readonly inProgress: InProgress | null;
  readonly lastResult: HandoffResult | null;
}

export interface StatusApp {
  readonly id: string;
  readonly grpcSocket: string;
  readonly httpSocket: string;
  readonly wireSocket: string;
  readonly connections: { grpc: number; http: number; wire: number };
  /** What the app holds against its budgets, summed over the workers that report it. */
  /** Summed over the workers that report it; absent from an ops-agent of an older build. */
  readonly held?: { streams: number; bufferedBytes: number; pendingCallbacks: number };
}

export interface StatusComponent {
  readonly name: string;
  readonly type: string;
  /** Healthy in every worker that answered. */
  readonly healthy: boolean;
  readonly detail?: string;
  readonly workers: { readonly healthy: number; readonly total: number };
}

export interface StatusReport {
  readonly pid: number;
  /** The ops-agent's own build. */
  readonly version: string;
  /** The active generation (the one readiness refers to). */
  readonly generation: number;
  /** The build the active generation runs. */
  readonly activeVersion: string;
  readonly uptimeMs: number;
  readonly configFile: string;
  readonly runDir: string;
  readonly stateDir: string;
  readonly adminSocket: string;
  readonly ready: boolean;
  readonly problems: readonly string[];
  readonly workers: readonly StatusWorker[];
  readonly apps: readonly StatusApp[];
  readonly components: readonly StatusComponent[];
  readonly upgrade: UpgradeStatus;
  /** host:port of the admin TCP listener (added by the admin API), null when off. */
  readonly adminTcp?: string | null;
}

export interface OpsAgentIdentity {
  readonly pid: number;
  readonly version: string;
  readonly startedAt: number;
}

/** Readiness problems from worker reports: unanswered workers and unhealthy components. */
export function componentProblems(reports: readonly WorkerReport[], generation: number): string[] {
  const problems: string[] = [];
  for (const r of reports) {
    if (r.info.generation !== generation || r.info.state !== 'ready') continue;
    if (!r.status) {
      problems.push(`worker ${r.info.slot} (pid ${r.info.pid}): ${r.error ?? 'no status'}`);
      continue;
    }
    for (const c of r.status.components) {
      if (!c.healthy) problems.push(`worker ${r.info.slot} (pid ${r.info.pid}): component ${c.type}/${c.name} unhealthy${c.detail ? `: ${c.detail}` : ''}`);
    }
  }
  return problems;
}

export function buildStatusReport(
  me: OpsAgentIdentity,
  config: HearthConfig,
  reports: readonly WorkerReport[],
  problems: readonly string[],
  generation: number,
  upgrade: UpgradeStatus,
): StatusReport {
  const workers: StatusWorker[] = reports.map((r) => ({
    ...r.info,
    rssBytes: r.status?.rssBytes ?? null,
    heapUsedBytes: r.status?.heapUsedBytes ?? null,
    ...(r.error !== undefined ? { error: r.error } : {}),
  }));

  const apps: StatusApp[] = config.apps.map((a) => {
    const connections = { grpc: 0, http: 0, wire: 0 };
    const held = { streams: 0, bufferedBytes: 0, pendingCallbacks: 0 };
    for (const r of reports) {
      const c = r.status?.connections[a.id];
      if (c) {
        connections.grpc += c.grpc;
        connections.http += c.http;
        connections.wire += c.wire ?? 0;
      }
      const h = r.status?.held?.[a.id];
      if (h) {
        held.streams += h.streams;
        held.bufferedBytes += h.bufferedBytes;
        held.pendingCallbacks += h.pendingCallbacks;
      }
    }
    return { id: a.id, grpcSocket: a.grpcSocket, httpSocket: a.httpSocket, wireSocket: a.wireSocket, connections, held };
  });

  const byKey = new Map<string, { name: string; type: string; healthy: number; total: number; detail?: string }>();
  for (const r of reports) {
    for (const c of r.status?.components ?? []) {
      const key = `${c.type}/${c.name}`;
      const e = byKey.get(key) ?? { name: c.name, type: c.type, healthy: 0, total: 0 };
      e.total += 1;
      if (c.healthy) e.healthy += 1;
      else e.detail ??= c.detail ?? `unhealthy in worker ${r.info.pid}`;
      byKey.set(key, e);
    }
  }
  const components: StatusComponent[] = [...byKey.values()].map((e) => ({
    name: e.name,
    type: e.type,
    healthy: e.healthy === e.total,
    ...(e.detail !== undefined ? { detail: e.detail } : {}),
    workers: { healthy: e.healthy, total: e.total },
  }));

  return {
    pid: me.pid,
    version: me.version,
    generation,
    activeVersion: upgrade.active?.version ?? me.version,
    uptimeMs: Date.now() - me.startedAt,
    configFile: config.source,
    runDir: config.runDir,
    stateDir: config.stateDir,
    adminSocket: config.adminSocket,
    ready: problems.length === 0,
    problems,
    workers,
    apps,
    components,
    upgrade,
  };
}
