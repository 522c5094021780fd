// Everything on disk the ops-agent prepares before forking: the run dir and per-app socket dirs
// with their modes and owners, the state dir, a pid file that says who owns the run dir, and
// stale sockets left by a crash (`kill -9` leaves socket files behind; binding over them fails).
import { chmod, chown, lstat, mkdir, open, readFile, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AppConfig, HearthConfig } from '../agent/config/load-config.js';
import { OpsError } from './ops-errors.js';

export class RunDirError extends OpsError {
  constructor(code: 'HEARTH_ERR_RUN_DIR_IN_USE' | 'HEARTH_ERR_RUN_DIR_INVALID', message: string) {
    super(code, message);
    this.name = 'RunDirError';
  }
}

export interface RunDirLock {
  readonly pidFile: string;
  /** Removes the pid file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

export type SocketProbe = 'absent' | 'stale' | 'live' | 'not-socket' | 'unknown';

/** Every socket path this configuration owns (admin first). */
export function socketPaths(config: HearthConfig): string[] {
  return [config.adminSocket, ...config.apps.flatMap((a) => [a.grpcSocket, a.httpSocket, a.wireSocket])];
}

/**
 * Takes the run dir: creates the directories, takes the pid file, refuses when another Hearth
 * serves it, and removes sockets that nobody listens on any more.
 */
export async function prepareRunDir(config: HearthConfig, logger: Logger, pid: number): Promise<RunDirLock> {
  const owners = await resolveOwners(config);

  await mkdirMode(config.runDir, 0o755, false);
  const lock = await acquirePidFile(path.join(config.runDir, 'hearth.pid'), pid, config, logger);
  try {
    await clearStaleSockets(config, socketPaths(config), logger);
    await mkdirMode(path.join(config.runDir, 'apps'), 0o755, false);
    await makeAppDirs(config.apps, owners, logger);
    await mkdirMode(config.stateDir, 0o700, false);
  } catch (err) {
    await lock.release();
    throw err;
  }
  return lock;
}

/**
 * For apps a reload adds while Hearth runs: their socket dirs (mode, owner) and no stale socket
 * in the way, exactly as a start prepares them.
 */
export async function prepareAppDirs(config: HearthConfig, appIds: readonly string[], logger: Logger, ownerChanged: readonly string[] = []): Promise<void> {
  const apps = config.apps.filter((a) => appIds.includes(a.id));
  const rechown = config.apps.filter((a) => ownerChanged.includes(a.id) && !appIds.includes(a.id));
  if (apps.length === 0 && rechown.length === 0) return;
  await clearStaleSockets(config, apps.flatMap((a) => [a.grpcSocket, a.httpSocket, a.wireSocket]), logger);
  await mkdirMode(path.join(config.runDir, 'apps'), 0o755, false);
  // Apps already served keep their live sockets; only their directory changes hands (the
  // sockets follow in applySocketOwners once the new generation serves).
  await makeAppDirs([...apps, ...rechown], await resolveOwners(config), logger);
}

export interface ProcessIds {
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

function processIds(): ProcessIds {
  return { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1, groups: process.getgroups?.() ?? [] };
}

/**
 * The part of an app's socket owner/group this process may apply, by chown(2)'s rules: root
 * anything; any other user (the systemd unit runs as `hearth`) only a group it is a member of, on
 * files it owns. Undefined when the request cannot be honoured (the caller warns).
 */
export function applicableOwner(o: Owner, me: ProcessIds): Owner | undefined {
  if (me.uid === 0) return o;
  if (o.uid !== -1 && o.uid !== me.uid) return undefined;
  if (o.gid !== -1 && o.gid !== me.gid && !me.groups.includes(o.gid)) return undefined;
  return { uid: -1, gid: o.gid };
}

async function makeAppDirs(apps: readonly AppConfig[], owners: Map<string, Owner>, logger: Logger): Promise<void> {
  const me = processIds();
  for (const app of apps) {
    await mkdirMode(app.socketDir, 0o750, true);
    const o = owners.get(app.id);
    if (!o || (o.uid === -1 && o.gid === -1)) continue;
    const allowed = applicableOwner(o, me);
    if (allowed) await chown(app.socketDir, allowed.uid, allowed.gid);
    else logger.warn({ app: app.id, owner: o.uid, group: o.gid }, 'apps[].socket owner/group ignored: needs root, or (for a group) membership of that group');
  }
}

async function clearStaleSockets(config: HearthConfig, paths: readonly string[], logger: Logger): Promise<void> {
  for (const p of paths) {
    const probe = await probeSocket(p);
    switch (probe) {
      case 'absent':
        break;
      case 'stale':
        await unlinkIfPresent(p);
        logger.warn({ socket: p }, 'removed stale socket left by a previous run (nothing was listening on it)');
        break;
      case 'live':
        throw new RunDirError(
          'HEARTH_ERR_RUN_DIR_IN_USE',
          `another Hearth is already running on ${config.runDir}: ${p} accepts connections. Stop it first (hearth status --run-dir ${config.runDir}).`,
        );
      case 'not-socket':
        throw new RunDirError('HEARTH_ERR_RUN_DIR_INVALID', `${p} exists and is not a socket; remove it or choose another runDir`);
      case 'unknown':
        throw new RunDirError('HEARTH_ERR_RUN_DIR_INVALID', `cannot tell whether ${p} is in use (no permission to connect); remove it or choose another runDir`);
    }
  }
}

/** After the workers have bound the sockets (as this user), hands them to the app's owner/group. */
export async function applySocketOwners(config: HearthConfig, logger: Logger): Promise<void> {
  const owners = await resolveOwners(config);
  const me = processIds();
  for (const app of config.apps) {
    const o = owners.get(app.id);
    if (!o || (o.uid === -1 && o.gid === -1)) continue;
    const allowed = applicableOwner(o, me);
    if (!allowed) continue; // makeAppDirs already warned
    for (const p of [app.grpcSocket, app.httpSocket, app.wireSocket]) {
      try {
        await chown(p, allowed.uid, allowed.gid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err, socket: p }, 'cannot chown socket');
      }
    }
  }
}

/** Connects to find out whether anything listens: refused means a crashed owner left the file. */
export async function probeSocket(p: string, timeoutMs = 1000): Promise<SocketProbe> {
  try {
    if (!(await lstat(p)).isSocket()) return 'not-socket';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  return new Promise((resolve) => {
    const s = net.connect({ path: p });
    const done = (r: SocketProbe): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    // A listener too busy to accept within the timeout is still a listener.
    const timer = setTimeout(() => done('live'), timeoutMs);
    s.once('connect', () => done('live'));
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done('stale');
      else if (err.code === 'ENOENT') done('absent');
      else done('unknown');
    });
  });
}

async function acquirePidFile(file: string, pid: number, config: HearthConfig, logger: Logger): Promise<RunDirLock> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o644);
      try {
        await fh.writeFile(`${pid}\n`);
      } finally {
        await fh.close();
      }
      let released = false;
      return {
        pidFile: file,
        release: async () => {
          if (released) return;
          released = true;
          const content = await readFile(file, 'utf8').catch(() => '');
          if (content.trim() === String(pid)) await unlinkIfPresent(file);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const other = Number.parseInt((await readFile(file, 'utf8').catch(() => '')).trim(), 10);
    if (Number.isSafeInteger(other) && other > 0 && other !== pid && (await looksLikeLiveHearth(other))) {
      throw new RunDirError(
        'HEARTH_ERR_RUN_DIR_IN_USE',
        `another Hearth (pid ${other}) is already running on ${config.runDir} (pid file ${file}). Stop it first; if no Hearth is running, remove the pid file.`,
      );
    }
    logger.warn({ pidFile: file, stalePid: Number.isNaN(other) ? null : other }, 'removing stale pid file left by a previous run');
    await unlinkIfPresent(file);
  }
  throw new RunDirError('HEARTH_ERR_RUN_DIR_IN_USE', `cannot take ${file}: another process keeps creating it`);
}

/** Alive, and (where /proc tells) a node process: a reused pid after a crash does not block a start. */
async function looksLikeLiveHearth(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return /node|hearth/.test(cmdline);
  } catch {
    return true;
  }
}

async function mkdirMode(dir: string, mode: number, always: boolean): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode });
  // mkdir's mode is filtered by the umask; a directory we did not create keeps its mode unless it is ours by design.
  if (created !== undefined || always) await chmod(dir, mode);
}

async function unlinkIfPresent(p: string): Promise<void> {
  try {
    await unlink(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export { unlinkIfPresent };

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** Names from apps[].socket are resolved through /etc/passwd and /etc/group (no getpwnam in Node). */
async function resolveOwners(config: HearthConfig): Promise<Map<string, Owner>> {
  const out = new Map<string, Owner>();
  if (!config.apps.some((a) => a.socket.owner !== undefined || a.socket.group !== undefined)) return out;
  const passwd = await readIdFile('/etc/passwd', 2);
  const group = await readIdFile('/etc/group', 2);
  const problems: string[] = [];
  for (const [i, app] of config.apps.entries()) {
    const lookup = (v: string | number | undefined, table: Map<string, number>, what: string): number => {
      if (v === undefined) return -1;
      if (typeof v === 'number') return v;
      if (/^\d+$/.test(v)) return Number(v);
      const id = table.get(v);
      if (id === undefined) {
        problems.push(`apps[${i}].socket.${what}: no such ${what === 'owner' ? 'user' : 'group'} "${v}"`);
        return -1;
      }
      return id;
    };
    out.set(app.id, { uid: lookup(app.socket.owner, passwd, 'owner'), gid: lookup(app.socket.group, group, 'group') });
  }
  if (problems.length > 0) throw new RunDirError('HEARTH_ERR_RUN_DIR_INVALID', problems.join('; '));
  return out;
}

async function readIdFile(file: string, idField: number): Promise<Map<string, number>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    const name = fields[0];
    const id = Number(fields[idField]);
    if (name && Number.isSafeInteger(id)) map.set(name, id);
  }
  return map;
}
