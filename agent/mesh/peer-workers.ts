// The other workers of this agent, found through the file system: every worker listens on
// `<runDir>/workers/<pid>.sock` (its PeerWireServer, an exclusive listener: not shared through the
// cluster primary, so a connection to it reaches exactly that worker), publishes the apps whose
// callback streams it holds in `<pid>.apps`, and keeps one forwarding channel to each other worker
// it finds there.
//
// Why a directory and not the ops-agent: workers of two generations overlap during an upgrade and
// must reach each other's callback streams; the ops-agent never relays app traffic (it stays
// small and never handles an app's request).
// Why publish apps: a worker asked for an app it does not hold answers APP_UNAVAILABLE, which the
// governor would count against it (and eject it) — so peers are only asked for apps they hold.
// The apps file is written synchronously when a stream opens, before the app hears `registered`;
// a worker that finds no holder of a target re-reads the directory before giving up (so a call
// made right after a registration elsewhere already sees it), and re-reads it before routing
// after the watch (inotify) saw a change. A periodic re-read backs the watch up.
// A socket whose pid is dead (a `kill -9` leaves it behind) is skipped and unlinked.
// The router asks whether an app was held by some peer recently (seenRecently): an app that had
// instances a moment ago and has none now is between streams (draining during an upgrade), and a
// call to it waits briefly for the replacement instead of failing.
import { renameSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { chmod, mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ForwardChannel } from './forward-channel.js';

/** How often the directory is re-read even without a miss. */
/** A repeated miss for one app within this relies on the watch rather than a fresh read. */
const READ_NOW_FRESH_MS = 100;
/** Bound on the apps remembered for that (cleared when reached). */
const READ_NOW_APPS_MAX = 1_000;
const DEFAULT_REFRESH_MS = 3_000;
/** A miss re-reads the directory at most this often. */
const MISS_REFRESH_MIN_MS = 200;
const SOCKET_NAME = /^([1-9][0-9]{0,9})\.sock$/;
/** How long calls in flight to a peer that vanished may still be answered (its drain ends them sooner). */
const FORGOTTEN_PEER_GRACE_MS = 60_000;
/** How long an app a peer held counts as "seen recently" after it was last listed. */
const SEEN_RECENTLY_MS = 30_000;

export interface PeerWorker {
  readonly pid: number;
  readonly socketPath: string;
  readonly channel: ForwardChannel;
  /** Apps with callback streams on that worker; undefined = it publishes none (ask it for any app). */
  apps: ReadonlySet<string> | undefined;
}

export interface PeerWorkersOptions {
  readonly runDir: string;
  /** This worker's pid (names its socket; never a peer of itself). */
  readonly pid: number;
  /** Builds the (lazily connecting) channel to one peer's socket. */
  readonly connect: (socketPath: string, pid: number) => ForwardChannel;
  /** True when a process with this pid exists. */
  readonly isAlive?: (pid: number) => boolean;
  readonly refreshMs?: number;
  readonly logger: Logger;
}

export function workersDir(runDir: string): string {
  return path.join(runDir, 'workers');
}

export class PeerWorkers {
  readonly socketPath: string;
  readonly #o: PeerWorkersOptions;
  readonly #dir: string;
  readonly #log: Logger;
  readonly #peers = new Map<number, PeerWorker>();
  readonly #isAlive: (pid: number) => boolean;
  #timer: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;
  /** The directory changed since it was last read. */
  #dirty = true;
  #refreshing: Promise<void> | undefined;
  #lastRefresh = 0;
  #scanStartedAt = -1;
  /** When readNow() last read afresh for each app. */
  readonly #readNowAt = new Map<string, number>();
  #closed = false;
  /** App id → when a peer last listed it (Date.now()). */
  readonly #seen = new Map<string, number>();

  constructor(options: PeerWorkersOptions) {
    this.#o = options;
    this.#dir = workersDir(options.runDir);
    this.socketPath = path.join(this.#dir, `${options.pid}.sock`);
    this.#log = options.logger.child({ component: 'peer-workers' });
    this.#isAlive = options.isAlive ?? pidAlive;
  }

  /**
   * Creates the directory (0700: only this agent's user may reach another worker's streams) and
   * removes a socket of ours left by a previous process with the same pid. Call before the
   * PeerWireServer listens on `socketPath`.
   */
  async prepare(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await chmod(this.#dir, 0o700);
    await unlinkQuietly(this.socketPath);
  }

  /** Reads the directory now, then after every change and every refreshMs. */
  async start(): Promise<void> {
    try {
      this.#watcher = watch(this.#dir, { persistent: false }, () => {
        this.#dirty = true;
      });
      this.#watcher.on('error', (err) => this.#log.warn({ err }, 'watching the workers directory failed; re-reading it periodically only'));
    } catch (err) {
      this.#log.warn({ err }, 'cannot watch the workers directory; re-reading it periodically only');
    }
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#o.refreshMs ?? DEFAULT_REFRESH_MS);
    this.#timer.unref();
  }

  /** The peers known right now (no I/O). */
  list(): readonly PeerWorker[] {
    return [...this.#peers.values()];
  }

  /** Peers that hold (or may hold: they publish nothing) instances of `appId`, from what is known (no I/O). */
  holding(appId: string): PeerWorker[] {
    return this.list().filter((p) => p.apps === undefined || p.apps.has(appId));
  }

  /** Some peer listed `appId` within the last SEEN_RECENTLY_MS (no I/O). */
  seenRecently(appId: string): boolean {
    if (this.holding(appId).length > 0) return true;
    const at = this.#seen.get(appId);
    return at !== undefined && Date.now() - at < SEEN_RECENTLY_MS;
  }

  /**
   * Reads the directory with a read that starts now (not one already under way): a stream that
   * opened on another worker before this call arrived is seen. For misses only — it costs a
   * readdir and one small read per peer. Repeated misses for the same app within
   * READ_NOW_FRESH_MS rely on the watch instead (current()): calls to an app that lives only on
   * other hosts would otherwise pay a readdir each (5% of a busy worker's CPU in the invoke
   * bench). The first miss for an app always reads afresh, so a stream that was registered just
   * before is never missed because some other read happened to start a moment earlier.
   */
  async readNow(appId: string): Promise<void> {
    const now = performance.now();
    const last = this.#readNowAt.get(appId);
    if (last !== undefined && now - last < READ_NOW_FRESH_MS) {
      // A read under way (another miss's) may be the one that finds the holder: the dirty flag was
      // cleared when it began, so wait for it rather than act on what was known before it.
      if (this.#refreshing !== undefined) await this.#refreshing;
      return this.current();
    }
    if (this.#readNowAt.size >= READ_NOW_APPS_MAX) this.#readNowAt.clear();
    this.#readNowAt.set(appId, now);
    const since = now;
    for (let i = 0; i < 3 && this.#scanStartedAt < since && !this.#closed; i++) await this.refresh();
  }

  /** Re-reads the directory if the watch saw a change since it was last read (cheap when not). */
  async current(): Promise<void> {
    // A change during a read in progress marks the directory dirty again: read once more.
    for (let i = 0; i < 2 && this.#dirty; i++) await this.refresh();
  }

  /**
   * Publishes the apps whose callback streams this worker holds. Synchronous on purpose: the
   * file is in place before the transport tells the app it is registered.
   */
  publishApps(appIds: readonly string[]): void {
    if (this.#closed) return;
    const file = this.#appsFile(this.#o.pid);
    try {
      writeFileSync(`${file}.tmp`, [...appIds].sort().join('\n'), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.#log.warn({ err, file }, 'cannot publish this worker\'s apps; other workers will not forward to it');
    }
  }

  /** A miss (no peer, or one that vanished): re-read the directory unless that happened just now. */
  async refreshOnMiss(): Promise<void> {
    if (Date.now() - this.#lastRefresh < MISS_REFRESH_MIN_MS) return this.#refreshing;
    return this.refresh();
  }

  /** Re-reads the directory: adds new live peers, drops gone or dead ones. One at a time. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#scan().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /**
   * A peer's socket refused or vanished: forget it until the directory lists it again alive. A
   * draining worker removes its socket first, with calls of ours still in flight there: they are
   * answered before the channel closes (the peer ends them within its own drain grace).
   */
  forget(pid: number): void {
    const peer = this.#peers.get(pid);
    if (peer === undefined) return;
    this.#peers.delete(pid);
    void peer.channel.close(FORGOTTEN_PEER_GRACE_MS);
  }

  /** Closes every channel and removes our socket file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#watcher?.close();
    await this.#refreshing;
    const peers = [...this.#peers.values()];
    this.#peers.clear();
    await Promise.all(peers.map((p) => p.channel.close()));
    await unlinkQuietly(this.#appsFile(this.#o.pid));
    await unlinkQuietly(this.socketPath);
  }

  #appsFile(pid: number): string {
    return path.join(this.#dir, `${pid}.apps`);
  }

  async #scan(): Promise<void> {
    this.#lastRefresh = Date.now();
    this.#scanStartedAt = performance.now();
    this.#dirty = false;
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      this.#log.warn({ err, dir: this.#dir }, 'cannot read the workers directory; peer workers unknown');
      return;
    }
    if (this.#closed) return;
    const seen = new Set<number>();
    for (const name of names) {
      const m = SOCKET_NAME.exec(name);
      if (m === null) continue;
      const pid = Number(m[1]);
      if (pid === this.#o.pid) continue;
      const socketPath = path.join(this.#dir, name);
      if (!this.#isAlive(pid)) {
        // Left by a killed worker: nobody will ever accept on it again.
        await unlinkQuietly(socketPath);
        await unlinkQuietly(this.#appsFile(pid));
        this.#log.info({ pid, socket: socketPath }, 'removed the socket of a dead worker');
        continue;
      }
      seen.add(pid);
      const apps = await this.#readApps(pid);
      if (this.#closed) return;
      const now = Date.now();
      for (const app of apps ?? []) this.#seen.set(app, now);
      const known = this.#peers.get(pid);
      if (known !== undefined) known.apps = apps;
      else {
        this.#peers.set(pid, { pid, socketPath, channel: this.#o.connect(socketPath, pid), apps });
        this.#log.debug({ pid }, 'peer worker found');
      }
    }
    for (const pid of [...this.#peers.keys()]) if (!seen.has(pid)) this.forget(pid);
  }

  async #readApps(pid: number): Promise<ReadonlySet<string> | undefined> {
    try {
      const text = await readFile(this.#appsFile(pid), 'utf8');
      return new Set(text.split('\n').filter((l) => l !== ''));
    } catch {
      return undefined;
    }
  }
}

/** signal 0 probes: ESRCH = gone; EPERM = alive but not ours (still a live process). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function unlinkQuietly(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch {
    // already gone
  }
}
