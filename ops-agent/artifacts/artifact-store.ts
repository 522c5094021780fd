// The version store under `<state>/versions/<version>`: install (signature of the claim → fetch
// → sha256 → unpack → rename), list, prune, and recovery after a crash. Installs run one at a
// time. A directory name starting with `.` is never a version: `.tmp-*` are unfinished unpacks
// (or removals) that recover() deletes, so a kill -9 mid-unpack never leaves a half-unpacked
// version in use.
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { UpgradeConfig } from '../../agent/config/config-schema.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '../../upgrade/handoff-protocol.js';
import { isOpsErrorCode, OpsError } from '../ops-errors.js';
import { isValidVersion, parseManifest, type ArtifactManifest, type HostPlatform } from './artifact-manifest.js';
import { isSha256Hex } from './artifact-signature.js';
import { abortError, fetchArtifact, parseSource, redact } from './artifact-source.js';
import { readInstallRecord, unpackArtifact } from './artifact-unpack.js';
import { checkSignature, verifyChecksum } from './artifact-verify.js';

export interface InstalledVersion {
  readonly version: string;
  /** Absolute path of the version's root (holds manifest.json, package.json, dist/, node_modules/). */
  readonly dir: string;
  readonly sha256: string;
  readonly manifest: ArtifactManifest;
  /** ISO 8601. */
  readonly installedAt: string;
  /** Where it came from (credentials and query strings removed). */
  readonly source: string;
}

export interface InstallRequest {
  /** An absolute path, a file:// URL, or an http(s):// URL. */
  readonly source: string;
  /** Expected sha256 of the artifact, 64 lowercase hex. */
  readonly sha256: string;
  /** Base64 text of the ed25519 signature (required when upgrade.publicKeyFile is set). */
  readonly signature?: string;
}

export interface InstallProgress {
  readonly phase: 'download' | 'verify' | 'unpack' | 'install';
  readonly bytes?: number;
  readonly total?: number;
  readonly detail?: string;
}

export interface ArtifactStoreOptions {
  readonly stateDir: string;
  readonly upgrade: Readonly<UpgradeConfig>;
  readonly logger: Logger;
}

const STALE_PART_MS = 24 * 60 * 60 * 1000;
/** Progress is reported when it advances by this fraction of the total (or 1 MiB without one). */
const PROGRESS_STEP = 0.01;

export class ArtifactStore {
  readonly versionsDir: string;
  readonly downloadDir: string;
  private readonly upgrade: Readonly<UpgradeConfig>;
  private readonly logger: Logger;
  private readonly host: HostPlatform;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ArtifactStoreOptions) {
    this.versionsDir = path.join(opts.stateDir, 'versions');
    this.downloadDir = path.join(opts.stateDir, 'downloads');
    this.upgrade = opts.upgrade;
    this.logger = opts.logger.child({ component: 'artifact-store' });
    this.host = { platform: process.platform, arch: process.arch, nodeAbi: Number(process.versions.modules), protocol: SUPPORTED_PROTOCOL_VERSIONS };
  }

  /**
   * Checks the signature of the claimed sha256 (before the source is touched), fetches, checks the
   * sha256 (before anything is unpacked), unpacks and installs; one install at a time.
   */
  install(req: InstallRequest, onProgress: (p: InstallProgress) => void, signal?: AbortSignal): Promise<InstalledVersion> {
    const run = this.queue.then(() =>
      this.installNow(req, onProgress, signal).catch((err: unknown) => {
        // Always a coded error: an uncoded one (EACCES, EIO…) is a problem of this host.
        if (isOpsErrorCode((err as { code?: unknown }).code)) throw err;
        if (signal?.aborted === true) throw abortError(signal, 'HEARTH_ERR_INTERNAL');
        this.logger.error({ err, source: redact(req.source) }, 'artifact install failed');
        throw new OpsError('HEARTH_ERR_INTERNAL', `artifact install failed: ${(err as Error).message}`);
      }),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async installNow(req: InstallRequest, onProgress: (p: InstallProgress) => void, signal: AbortSignal | undefined): Promise<InstalledVersion> {
    if (!isSha256Hex(req.sha256)) throw new OpsError('HEARTH_ERR_INVALID_ARGUMENT', 'sha256 must be 64 lowercase hex characters');
    const source = parseSource(req.source);
    const where = redact(req.source);
    if (signal?.aborted) throw abortError(signal);
    const log = this.logger.child({ source: where, sha256: req.sha256 });
    const started = Date.now();
    log.info('installing artifact');

    const signed = await checkSignature({ sha256: req.sha256, signature: req.signature, publicKeyFile: this.upgrade.publicKeyFile });
    onProgress({ phase: 'download' });
    const fetched = await fetchArtifact(source, {
      downloadDir: this.downloadDir,
      name: req.sha256,
      maxBytes: this.upgrade.maxArtifactBytes,
      timeoutMs: this.upgrade.downloadTimeoutMs,
      retries: this.upgrade.downloadRetries,
      policy: this.upgrade,
      logger: log,
      onProgress: throttled('download', onProgress),
      ...(signal ? { signal } : {}),
    });
    try {
      // No byte counts until the sha256 matched: they would tell the size of whatever was read.
      onProgress({ phase: 'verify' });
      const bytes = await verifyChecksum({ file: fetched.file, sha256: req.sha256, signal });
      onProgress({ phase: 'verify', bytes, total: bytes, detail: signed ? 'sha256 and signature ok' : 'sha256 ok' });
      if (signal?.aborted) throw abortError(signal, 'HEARTH_ERR_INTERNAL');

      const placed = await unpackArtifact({
        file: fetched.file,
        versionsDir: this.versionsDir,
        sha256: req.sha256,
        source: where,
        limits: { maxEntries: this.upgrade.maxArtifactEntries, maxUnpackedBytes: this.upgrade.maxUnpackedBytes },
        host: this.host,
        onProgress: throttledTotal('unpack', onProgress),
        ...(signal ? { signal } : {}),
      }).catch((err: unknown) => {
        throw signal?.aborted === true ? abortError(signal, 'HEARTH_ERR_INTERNAL') : err;
      });
      const installed: InstalledVersion = { version: placed.manifest.version, dir: placed.dir, sha256: req.sha256, manifest: placed.manifest, installedAt: placed.record.installedAt, source: placed.record.source };
      onProgress({ phase: 'install', detail: placed.reused ? `version ${installed.version} was already installed from this artifact` : `installed ${installed.version} in ${installed.dir}` });
      log.info({ version: installed.version, dir: installed.dir, reused: placed.reused, ms: Date.now() - started }, 'artifact installed');
      return installed;
    } finally {
      // Verified or not, our copy is no longer needed (a failed download keeps its .part for resume).
      await rm(fetched.file, { force: true });
    }
  }

  /** Installed versions, newest installedAt first; unreadable directories are skipped (and logged). */
  async list(): Promise<InstalledVersion[]> {
    let names: string[];
    try {
      names = await readdir(this.versionsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const found: InstalledVersion[] = [];
    for (const name of names.sort()) {
      if (name.startsWith('.')) continue;
      const v = await this.read(name);
      if (v !== undefined) found.push(v);
    }
    return found.sort((a, b) => (a.installedAt === b.installedAt ? b.version.localeCompare(a.version) : b.installedAt.localeCompare(a.installedAt)));
  }

  async get(version: string): Promise<InstalledVersion | undefined> {
    if (!isValidVersion(version)) return undefined;
    return this.read(version);
  }

  /**
   * Removes all but the newest `keep` versions, never a protected one (the active and previous
   * versions). Returns the removed versions. A removal is a rename to `.tmp-*` first, so a crash
   * mid-removal leaves nothing that looks installed.
   */
  async prune(keep: number, protect: readonly string[]): Promise<string[]> {
    const versions = await this.list();
    const removed: string[] = [];
    for (const [i, v] of versions.entries()) {
      if (i < keep || protect.includes(v.version)) continue;
      const doomed = path.join(this.versionsDir, `.tmp-remove-${v.version}-${randomBytes(4).toString('hex')}`);
      await rename(v.dir, doomed);
      await rm(doomed, { recursive: true, force: true });
      removed.push(v.version);
      this.logger.info({ version: v.version }, 'removed installed version');
    }
    return removed;
  }

  /** At ops-agent start: removes unfinished unpacks and removals, finished downloads, and `.part` files older than a day. */
  async recover(): Promise<void> {
    for (const name of await readdirOrEmpty(this.versionsDir)) {
      if (!name.startsWith('.tmp-')) continue;
      await rm(path.join(this.versionsDir, name), { recursive: true, force: true });
      this.logger.info({ dir: name }, 'removed an unfinished unpack');
    }
    for (const name of await readdirOrEmpty(this.downloadDir)) {
      const file = path.join(this.downloadDir, name);
      const st = await stat(file).catch(() => undefined);
      if (st === undefined) continue;
      const stale = name.endsWith('.part') ? Date.now() - st.mtimeMs > STALE_PART_MS : true;
      if (!stale) continue;
      await rm(file, { recursive: true, force: true });
      this.logger.info({ file: name }, 'removed a leftover download');
    }
  }

  private async read(version: string): Promise<InstalledVersion | undefined> {
    const dir = path.join(this.versionsDir, version);
    try {
      const record = await readInstallRecord(dir);
      const manifest = parseManifest(await readFile(path.join(dir, 'manifest.json'), 'utf8'), `${version}/manifest.json`);
      if (record.version !== version || manifest.version !== version) throw new Error(`directory ${version} holds version ${manifest.version}`);
      return { version, dir, sha256: record.sha256, manifest, installedAt: record.installedAt, source: record.source };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !(await stat(dir).then(() => true, () => false))) return undefined;
      this.logger.warn({ err, dir }, 'skipping an unreadable installed version');
      return undefined;
    }
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

type Report = (p: InstallProgress) => void;

function throttled(phase: InstallProgress['phase'], report: Report): (bytes: number, total: number | undefined) => void {
  let last = -Infinity;
  return (bytes, total) => {
    const step = total === undefined ? 1024 * 1024 : Math.max(1, total * PROGRESS_STEP);
    if (bytes - last < step && bytes !== total) return;
    last = bytes;
    report({ phase, bytes, ...(total === undefined ? {} : { total }) });
  };
}

function throttledTotal(phase: InstallProgress['phase'], report: Report): (bytes: number, total: number) => void {
  return throttled(phase, report);
}
