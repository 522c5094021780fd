// `hearth status`: asks a running ops-agent (GET /v1/status on admin.sock) and prints a table,
// or the JSON with --json. Exit 1 when no agent answers.
import { adminGet } from '../admin-client.js';
import type { StatusReport } from '../status-report.js';
import type { HandoffResult } from '../upgrade/upgrade-state.js';
import { notRunning, resolveAdminSocket } from './admin-target.js';

export interface StatusOptions {
  readonly configFile?: string | undefined;
  readonly runDir?: string | undefined;
  readonly json: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export async function statusCommand(o: StatusOptions): Promise<number> {
  const target = await resolveAdminSocket(o);
  if (!target.ok) return target.code;
  const adminSocket = target.socket;
  let res;
  try {
    res = await adminGet(adminSocket, '/v1/status');
  } catch (err) {
    return notRunning(adminSocket, err);
  }
  if (res.status !== 200) {
    console.error(`hearth: ${adminSocket} answered ${res.status}: ${res.body}`);
    return 1;
  }
  if (o.json) {
    console.log(res.body);
    return 0;
  }
  console.log(formatStatus(JSON.parse(res.body) as StatusReport));
  return 0;
}

export function formatStatus(s: StatusReport): string {
  const out: string[] = [];
  out.push(`Hearth ${s.version}  pid ${s.pid}  generation ${s.generation}  up ${duration(s.uptimeMs)}  ${s.ready ? 'READY' : 'NOT READY'}`);
  out.push(`config   ${s.configFile}`, `run dir  ${s.runDir}`, `state    ${s.stateDir}`);
  const u = s.upgrade;
  out.push(`active   ${s.activeVersion} (generation ${s.generation}${u.active?.dir ? `, ${u.active.dir}` : ", the ops-agent's own build"})  previous ${u.previous?.version ?? 'none'}`);
  if (u.inProgress) out.push(`IN PROGRESS  ${u.inProgress.kind} to ${u.inProgress.toVersion}: ${u.inProgress.phase} (since ${u.inProgress.startedAt})`);
  if (u.lastResult) out.push(...formatResult(u.lastResult));
  if (!s.ready) for (const p of s.problems) out.push(`  ! ${p}`);

  out.push('', 'Workers');
  out.push(
    ...table(
      ['SLOT', 'PID', 'GEN', 'VERSION', 'STATE', 'UPTIME', 'RSS', 'HEAP', 'RESTARTS'],
      s.workers.map((w) => [
        String(w.slot),
        String(w.pid),
        String(w.generation),
        w.version,
        w.state,
        duration(w.uptimeMs),
        w.rssBytes === null ? '?' : bytes(w.rssBytes),
        w.heapUsedBytes === null ? '?' : bytes(w.heapUsedBytes),
        String(w.restarts),
      ]),
    ),
  );

  out.push('', 'Apps (open connections and what they hold against their budgets, all workers)');
  out.push(
    ...table(
      ['APP', 'GRPC', 'HTTP', 'WIRE', 'STREAMS', 'BUFFERED', 'PENDING CALLS', 'HTTP SOCKET'],
      s.apps.map((a) => [
        a.id, String(a.connections.grpc), String(a.connections.http), String(a.connections.wire),
        // An ops-agent of an older build does not report them: '?'.
        a.held === undefined ? '?' : String(a.held.streams),
        a.held === undefined ? '?' : bytes(a.held.bufferedBytes),
        a.held === undefined ? '?' : String(a.held.pendingCallbacks),
        a.httpSocket,
      ]),
    ),
  );

  out.push('', 'Components');
  out.push(
    ...table(
      ['NAME', 'TYPE', 'HEALTH', 'WORKERS'],
      s.components.map((c) => [c.name, c.type, c.healthy ? 'healthy' : `UNHEALTHY${c.detail ? `: ${c.detail}` : ''}`, `${c.workers.healthy}/${c.workers.total}`]),
    ),
  );
  return out.join('\n');
}

function formatResult(r: HandoffResult): string[] {
  const head = `last     ${r.kind} ${r.from} → ${r.to}: ${r.result === 'ok' ? 'OK' : `FAILED [${r.code ?? '?'}]`} at ${r.finishedAt}`;
  const lines = [head];
  if (r.reason) lines.push(`         reason: ${r.reason}`);
  const phases = Object.entries(r.phases).map(([p, ms]) => `${p} ${ms} ms`);
  if (phases.length > 0) lines.push(`         phases: ${phases.join(', ')}${r.handoffMs !== undefined ? `; hand-off ${r.handoffMs} ms` : ''}`);
  return lines;
}

function table(head: string[], rows: string[][]): string[] {
  if (rows.length === 0) return ['  (none)'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `  ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd();
  return [line(head), ...rows.map(line)];
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

function bytes(n: number): string {
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}
