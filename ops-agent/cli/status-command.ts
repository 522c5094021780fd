// `hearth status`: asks a running ops-agent (GET /v1/status on admin.sock) and prints a table,
// or the JSON with --json. Exit 1 when no agent answers.
import { access } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../../agent/config/load-config.js';
import { adminGet } from '../admin-client.js';
import type { StatusReport } from '../status-report.js';
import { printConfigError } from './config-errors.js';
import { DEFAULT_CONFIG_FILE } from './usage.js';

export interface StatusOptions {
  readonly configFile?: string | undefined;
  readonly runDir?: string | undefined;
  readonly json: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

const DEFAULT_RUN_DIR = '/run/hearth';

export async function statusCommand(o: StatusOptions): Promise<number> {
  let adminSocket: string;
  if (o.runDir !== undefined) {
    adminSocket = path.join(path.resolve(o.runDir), 'admin.sock');
  } else {
    const file = o.configFile ?? ((await exists(DEFAULT_CONFIG_FILE)) ? DEFAULT_CONFIG_FILE : undefined);
    if (file === undefined) {
      adminSocket = path.join(DEFAULT_RUN_DIR, 'admin.sock');
    } else {
      try {
        adminSocket = (await loadConfig(file, { env: o.env })).adminSocket;
      } catch (err) {
        return printConfigError(err);
      }
    }
  }

  let res;
  try {
    res = await adminGet(adminSocket, '/v1/status');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'no agent is listening' : (err as Error).message;
    console.error(`hearth: not running (${adminSocket}: ${why})`);
    return 1;
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

  out.push('', 'Apps (open connections, all workers)');
  out.push(...table(['APP', 'GRPC', 'HTTP', 'HTTP SOCKET'], s.apps.map((a) => [a.id, String(a.connections.grpc), String(a.connections.http), a.httpSocket])));

  out.push('', 'Components');
  out.push(
    ...table(
      ['NAME', 'TYPE', 'HEALTH', 'WORKERS'],
      s.components.map((c) => [c.name, c.type, c.healthy ? 'healthy' : `UNHEALTHY${c.detail ? `: ${c.detail}` : ''}`, `${c.workers.healthy}/${c.workers.total}`]),
    ),
  );
  return out.join('\n');
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

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
