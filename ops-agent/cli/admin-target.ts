// Which admin.sock a CLI command talks to: --run-dir DIR, else the one --config FILE names, else
// the default config's, else /run/hearth/admin.sock.
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../agent/config/load-config.js';
import { printConfigError } from './config-errors.js';
import { DEFAULT_CONFIG_FILE } from './usage.js';

export interface AdminTarget {
  readonly configFile?: string | undefined;
  readonly runDir?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
}

const DEFAULT_RUN_DIR = '/run/hearth';

/** The socket path, or the exit code after printing why the configuration cannot be read. */
export async function resolveAdminSocket(
  o: AdminTarget & { lenient?: boolean },
): Promise<{ ok: true; socket: string } | { ok: false; code: number }> {
  if (o.runDir !== undefined) return { ok: true, socket: path.join(path.resolve(o.runDir), 'admin.sock') };
  const file = o.configFile ?? ((await exists(DEFAULT_CONFIG_FILE)) ? DEFAULT_CONFIG_FILE : undefined);
  if (file === undefined) return { ok: true, socket: path.join(DEFAULT_RUN_DIR, 'admin.sock') };
  try {
    return { ok: true, socket: (await loadConfig(file, { env: o.env })).adminSocket };
  } catch (err) {
    const socket = o.lenient ? await runDirOnly(file, o.env) : undefined;
    if (socket !== undefined) return { ok: true, socket };
    return { ok: false, code: printConfigError(err) };
  }
}

/**
 * `hearth reload` exists to apply an edited file, and the running agent is the one that judges
 * it: a file that no longer validates must still lead to that agent. Only runDir is read (as the
 * loader resolves it: HEARTH_RUN_DIR wins, relative to the file's directory).
 */
async function runDirOnly(file: string, env: Readonly<Record<string, string | undefined>>): Promise<string | undefined> {
  try {
    const doc = parseYaml(await readFile(file, 'utf8')) as { runDir?: unknown } | null;
    const runDir = env.HEARTH_RUN_DIR ?? (typeof doc?.runDir === 'string' && !doc.runDir.includes('${') ? doc.runDir : DEFAULT_RUN_DIR);
    return path.join(path.resolve(path.dirname(path.resolve(file)), runDir), 'admin.sock');
  } catch {
    return undefined;
  }
}

/** Prints "not running" for a connection error and returns the exit code. */
export function notRunning(socket: string, err: unknown): number {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'no agent is listening' : (err as Error).message;
  console.error(`hearth: not running (${socket}: ${why}) [HEARTH_ERR_NOT_RUNNING]`);
  return 1;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
