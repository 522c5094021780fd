// Unpacks a verified artifact in two passes with node-tar. Pass 1 lists the whole archive and
// checks every entry (tar-entry-rules.ts) and the manifest without writing anything. Pass 2
// extracts into a fresh `<versions>/.tmp-<version>-<random>` with a filter that re-applies the
// checks and insists on the same entries in the same order; then the tree is walked (actual
// types and bytes), the install record written, and the temp dir renamed into place atomically.
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Parser, Unpack, type ReadEntry } from 'tar';
import { OpsError } from '../ops-errors.js';
import { checkCompatibility, parseManifest, type ArtifactManifest, type HostPlatform } from './artifact-manifest.js';
import { checkEntry, EntryLedger, unsafe, type EntryLimits } from './tar-entry-rules.js';
import { feed } from './tar-feed.js';

export const INSTALL_RECORD = '.hearth-install.json';
const MANIFEST = 'manifest.json';
const MAX_MANIFEST_BYTES = 64 * 1024;
const MAX_PACKAGE_JSON_BYTES = 1024 * 1024;

export interface InstallRecord {
  readonly version: string;
  readonly sha256: string;
  readonly source: string;
  readonly installedAt: string;
}

export interface Inspection {
  readonly manifest: ArtifactManifest;
  readonly ledger: EntryLedger;
  /** Pass 1's entries in archive order: pass 2 must see the same. */
  readonly order: readonly string[];
}

export interface UnpackProgress {
  (bytes: number, total: number): void;
}

/** Pass 1: every entry checked, the manifest parsed and compatible. Writes nothing. */
export async function inspectArtifact(file: string, limits: EntryLimits, host: HostPlatform, signal?: AbortSignal): Promise<Inspection> {
  const ledger = new EntryLedger(limits);
  const order: string[] = [];
  const texts = new Map<string, Buffer[]>();
  let violation: OpsError | undefined;
  const parser = new Parser({ strict: true });
  parser.on('entry', (entry: ReadEntry) => {
    try {
      if (violation !== undefined) return;
      const p = ledger.add(entry);
      order.push(`${entry.type}:${p}`);
      const cap = p === MANIFEST ? MAX_MANIFEST_BYTES : p === 'package.json' ? MAX_PACKAGE_JSON_BYTES : -1;
      if (cap > 0 && entry.type === 'File') {
        if (entry.size > cap) throw new OpsError('HEARTH_ERR_ARTIFACT_INVALID', `${p} is ${entry.size} bytes, over ${cap}`);
        const chunks: Buffer[] = [];
        texts.set(p, chunks);
        entry.on('data', (c: Buffer) => chunks.push(c));
      }
    } catch (err) {
      violation = err as OpsError;
    } finally {
      entry.resume();
    }
  });
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    violation ??= unsafe(`entry ${JSON.stringify(entry.path)} has an unsupported type ${entry.type}`);
  });
  await feed(file, parser, limits, () => violation, 'HEARTH_ERR_ARTIFACT_INVALID', false, signal);
  if (violation !== undefined) throw violation;
  ledger.finish();

  const manifestText = texts.get(MANIFEST);
  if (manifestText === undefined) throw new OpsError('HEARTH_ERR_ARTIFACT_INVALID', 'the artifact has no manifest.json at its root');
  const manifest = parseManifest(Buffer.concat(manifestText).toString('utf8'));
  checkCompatibility(manifest, host);
  const pkgText = texts.get('package.json');
  if (pkgText === undefined) throw new OpsError('HEARTH_ERR_ARTIFACT_INVALID', 'the artifact has no package.json at its root');
  let pkgVersion: unknown;
  try {
    pkgVersion = (JSON.parse(Buffer.concat(pkgText).toString('utf8')) as { version?: unknown }).version;
  } catch {
    throw new OpsError('HEARTH_ERR_ARTIFACT_INVALID', 'the artifact package.json is not valid JSON');
  }
  if (pkgVersion !== manifest.version) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_INVALID', `manifest.json says version ${manifest.version} but package.json says ${String(pkgVersion)}`);
  }
  for (const [what, rel] of Object.entries(manifest.entry)) {
    if (ledger.types.get(rel) !== 'File') throw new OpsError('HEARTH_ERR_ARTIFACT_INVALID', `manifest entry.${what} ${rel} is not a file in the artifact`);
  }
  return { manifest, ledger, order };
}

/** Pass 2 into `dir` (created here, must not exist). Returns the bytes actually on disk. */
export async function extractArtifact(file: string, dir: string, inspection: Inspection, limits: EntryLimits, onProgress?: UnpackProgress, signal?: AbortSignal): Promise<number> {
  await mkdir(dir, { recursive: false, mode: 0o755 });
  let index = 0;
  let declared = 0;
  let violation: OpsError | undefined;
  const total = inspection.ledger.declaredBytes;
  const filter = (p: string, entry: ReadEntry | Stats): boolean => {
    if (violation !== undefined) return false;
    try {
      const e = entry as ReadEntry;
      const normal = checkEntry(e);
      if (inspection.order[index] !== `${e.type}:${normal}`) throw unsafe(`entry ${JSON.stringify(p)} differs from the listing; the archive changed between passes`);
      index += 1;
      if (e.type !== 'Directory' && e.type !== 'SymbolicLink') declared += e.size;
      onProgress?.(declared, total);
      return true;
    } catch (err) {
      violation = err as OpsError;
      return false;
    }
  };
  const unpack = new Unpack({ cwd: dir, strict: true, preservePaths: false, preserveOwner: false, unlink: false, filter });
  await feed(file, unpack, limits, () => violation, 'HEARTH_ERR_ARTIFACT_UNSAFE', true, signal);
  if (violation !== undefined) throw violation;
  if (index !== inspection.order.length) throw unsafe(`extracted ${index} entries, the listing had ${inspection.order.length}`);
  const actual = await treeBytes(dir);
  if (actual > limits.maxUnpackedBytes) throw unsafe(`unpacked ${actual} bytes, over upgrade.maxUnpackedBytes (${limits.maxUnpackedBytes})`);
  return actual;
}

export interface PlaceRequest {
  readonly file: string;
  readonly versionsDir: string;
  readonly sha256: string;
  /** For the record; already redacted. */
  readonly source: string;
  readonly limits: EntryLimits;
  readonly host: HostPlatform;
  readonly onProgress?: UnpackProgress;
  readonly signal?: AbortSignal;
}

export interface Placed {
  readonly dir: string;
  readonly manifest: ArtifactManifest;
  readonly record: InstallRecord;
  /** True when the same artifact was already installed and nothing was unpacked. */
  readonly reused: boolean;
}

/** Inspects, extracts and renames into `<versionsDir>/<version>`; nothing stays behind on failure. */
export async function unpackArtifact(req: PlaceRequest): Promise<Placed> {
  const inspection = await inspectArtifact(req.file, req.limits, req.host, req.signal);
  const { version } = inspection.manifest;
  const final = path.join(req.versionsDir, version);
  const existing = await existingInstall(final, version, req.sha256);
  if (existing !== undefined) return { dir: final, manifest: inspection.manifest, record: existing, reused: true };

  await mkdir(req.versionsDir, { recursive: true });
  const tmp = path.join(req.versionsDir, `.tmp-${version}-${randomBytes(6).toString('hex')}`);
  try {
    await extractArtifact(req.file, tmp, inspection, req.limits, req.onProgress, req.signal);
    // The manifest on disk must be the one that was checked.
    const onDisk = parseManifest(await readFile(path.join(tmp, MANIFEST), 'utf8'));
    if (JSON.stringify(onDisk) !== JSON.stringify(inspection.manifest)) throw unsafe('manifest.json on disk differs from the one listed');
    const record: InstallRecord = { version, sha256: req.sha256, source: req.source, installedAt: new Date().toISOString() };
    await writeFile(path.join(tmp, INSTALL_RECORD), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
    try {
      await rename(tmp, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // Installed meanwhile: same artifact → reuse, else refuse.
      const raced = await existingInstall(final, version, req.sha256);
      if (raced === undefined) throw err;
      await rm(tmp, { recursive: true, force: true });
      return { dir: final, manifest: inspection.manifest, record: raced, reused: true };
    }
    return { dir: final, manifest: inspection.manifest, record, reused: false };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw fsError(err);
  }
}

/** The record of an installed version with this sha256; undefined when the version is absent. */
async function existingInstall(dir: string, version: string, sha256: string): Promise<InstallRecord | undefined> {
  let record: InstallRecord | undefined;
  try {
    record = await readInstallRecord(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      const present = await lstat(dir).then(() => true, () => false);
      if (!present) return undefined;
    }
    throw new OpsError('HEARTH_ERR_ARTIFACT_INVALID', `version ${version} is already present in ${dir} without a valid install record`);
  }
  if (record.sha256 !== sha256) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_INVALID', `version ${version} is already installed from a different artifact (sha256 ${record.sha256})`);
  }
  return record;
}

export async function readInstallRecord(dir: string): Promise<InstallRecord> {
  const value = JSON.parse(await readFile(path.join(dir, INSTALL_RECORD), 'utf8')) as Partial<InstallRecord>;
  const { version, sha256, source, installedAt } = value;
  if (typeof version !== 'string' || typeof sha256 !== 'string' || typeof source !== 'string' || typeof installedAt !== 'string') {
    throw new Error(`${INSTALL_RECORD} in ${dir} is incomplete`);
  }
  return { version, sha256, source, installedAt };
}

/** Sum of regular file sizes; anything but files, dirs and symlinks on disk is refused. */
async function treeBytes(root: string): Promise<number> {
  let total = 0;
  const dirs = [root];
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    for (const d of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, d.name);
      if (d.isDirectory()) dirs.push(full);
      else if (d.isFile()) total += (await lstat(full)).size;
      else if (!d.isSymbolicLink()) throw unsafe(`unexpected file type on disk at ${path.relative(root, full)}`);
    }
  }
  return total;
}

/** Out of disk is reported as such; anything else unexpected is internal. */
function fsError(err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  if (err instanceof OpsError) return err;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new OpsError('HEARTH_ERR_PREFLIGHT_DISK', `out of disk while unpacking: ${(err as Error).message}`);
  return err;
}
