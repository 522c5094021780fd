#!/usr/bin/env node
// `npm run package [-- --out DIR]`: writes the release artifact
// `hearth-<version>-<platform>-<arch>-node<abi>.tgz` and its `.sha256` (default dir artifacts/).
// The archive root holds manifest.json, package.json (version = the build version), dist/ (no
// tests, benchmarks or source maps), proto/ and the production dependency closure of
// package-lock.json copied from the local node_modules (no network) — a workspace package the
// daemon depends on (@hearth/protocol) travels as its folder's package.json and compiled dist/,
// with the same in-tree node_modules link as a checkout. Entries are sorted, owners
// and times normalised, and hard links never emitted, so the archive passes the store's checks.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Header, Pack, ReadEntry } from 'tar';
import { isValidVersion, type ArtifactManifest } from '../ops-agent/artifacts/artifact-manifest.js';
import { HANDOFF_PROTOCOL_VERSION } from '../upgrade/handoff-protocol.js';

const USAGE = `usage: package-artifact [--out DIR]

Builds hearth-<version>-${process.platform}-${process.arch}-node<abi>.tgz and its .sha256 from dist/
(run \`npm run build\` first; \`npm run package\` does both). The version is HEARTH_BUILD_VERSION
or package.json's. Default output directory: artifacts/.`;

/** Compiled to dist/scripts/: the package root is two levels up. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REQUIRED_DIST = ['dist/agent/main.js', 'dist/ops-agent/main.js', 'dist/upgrade', 'dist/scripts'];
const SKIP_DIST = new Set(['dist/test', 'dist/bench', 'dist/.tsbuildinfo']);

/**
 * Never needed at run time in node_modules: TypeScript sources and declarations (Node 20 cannot
 * load them), source maps, and Markdown. Dropping them halves the file count and the unpack time.
 */
const DEPENDENCY_SKIP = /\.(?:[cm]?ts|map|md|markdown)$/i;

/** Per-package allow-lists: what a native package needs at run time (its build intermediates are large). */
const PACKAGE_KEEP: Readonly<Record<string, (rel: string) => boolean>> = {
  'better-sqlite3': (rel) => rel === 'package.json' || rel === 'LICENSE' || rel.startsWith('lib/') || rel === 'build/Release/better_sqlite3.node',
};

interface LockEntry {
  version?: string;
  resolved?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  link?: boolean;
}

/** node-tar emits a hard link for a second path to an inode it has seen; we never want one. */
class NoLinkCache extends Map<`${number}:${number}`, string> {
  override set(): this {
    return this;
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const outDir = path.resolve(values.out ?? path.join(ROOT, 'artifacts'));
  const started = process.hrtime.bigint();
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const version = process.env.HEARTH_BUILD_VERSION ?? (typeof pkg.version === 'string' ? pkg.version : '');
  if (!isValidVersion(version)) throw new Error(`invalid version ${JSON.stringify(version)}: letters, digits and . + _ - only, starting with a letter or digit`);
  for (const rel of REQUIRED_DIST) {
    if (!existsSync(path.join(ROOT, rel))) throw new Error(`${rel} is missing: run \`npm run build\` first`);
  }

  const nodeAbi = Number(process.versions.modules);
  const builtAt = new Date();
  builtAt.setMilliseconds(0);
  const manifest: ArtifactManifest = {
    name: 'hearth',
    version,
    platform: process.platform,
    arch: process.arch,
    nodeAbi,
    protocol: HANDOFF_PROTOCOL_VERSION,
    builtAt: builtAt.toISOString(),
    entry: { worker: 'dist/agent/main.js', cli: 'dist/ops-agent/main.js' },
  };

  const files = [
    ...(await walk('dist', (rel) => !SKIP_DIST.has(rel) && !rel.endsWith('.map'))),
    ...(await walk('proto', () => true)),
    ...(await dependencyFiles()),
  ].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const name = `hearth-${version}-${process.platform}-${process.arch}-node${nodeAbi}.tgz`;
  console.log(`packaging hearth ${version} (${process.platform}-${process.arch}, Node ABI ${nodeAbi}, protocol ${HANDOFF_PROTOCOL_VERSION}): ${files.length + 2} files`);

  const pack = new Pack({ cwd: ROOT, gzip: { level: 6 }, portable: true, mtime: builtAt, noDirRecurse: true, strict: true, linkCache: new NoLinkCache() });
  let unpacked = 0;
  addGenerated(pack, 'manifest.json', `${JSON.stringify(manifest, null, 2)}\n`, builtAt);
  addGenerated(pack, 'package.json', `${JSON.stringify({ ...pkg, version }, null, 2)}\n`, builtAt);
  for (const f of files) {
    pack.add(f);
    const st = await lstat(path.join(ROOT, f));
    if (st.isFile()) unpacked += st.size;
  }
  pack.end();

  await mkdir(outDir, { recursive: true });
  const outFile = path.join(outDir, name);
  const tmp = `${outFile}.tmp-${process.pid}`;
  const hash = createHash('sha256');
  let bytes = 0;
  const out = await open(tmp, 'w', 0o644);
  try {
    for await (const chunk of pack) {
      hash.update(chunk);
      bytes += chunk.length;
      await out.write(chunk);
    }
  } catch (err) {
    await out.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await out.close();
  await rename(tmp, outFile);
  const sha256 = hash.digest('hex');
  await writeFile(`${outFile}.sha256`, `${sha256}  ${name}\n`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`${files.length + 2} files, ${mib(unpacked)} unpacked, ${mib(bytes)} compressed, ${seconds.toFixed(1)} s`);
  console.log(`wrote ${outFile}`);
  console.log(`wrote ${outFile}.sha256`);
  console.log(`sha256 ${sha256}`);
  return 0;
}

function addGenerated(pack: Pack, file: string, text: string, mtime: Date): void {
  const data = Buffer.from(text, 'utf8');
  const entry = new ReadEntry(new Header({ path: file, mode: 0o644, size: data.length, mtime, type: 'File' }));
  entry.end(data);
  pack.add(entry);
}

/** Files and symlinks under `dir` (relative to ROOT, posix separators); `keep` prunes files and directories. */
async function walk(dir: string, keep: (rel: string, isDir: boolean) => boolean): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(path.join(ROOT, dir), { withFileTypes: true });
  for (const d of entries) {
    const rel = `${dir}/${d.name}`;
    if (!keep(rel, d.isDirectory())) continue;
    if (d.isDirectory()) out.push(...(await walk(rel, keep)));
    else if (d.isFile()) out.push(rel);
    else if (d.isSymbolicLink()) out.push(await checkedLink(rel));
  }
  return out;
}

/** A symlink is packed as such only if it stays inside the tree (the installer refuses others). */
async function checkedLink(rel: string): Promise<string> {
  const target = await readlink(path.join(ROOT, rel));
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  if (path.posix.isAbsolute(target) || resolved.startsWith('../')) throw new Error(`${rel} is a symlink out of the tree (${target})`);
  return rel;
}

/** The production closure from package-lock.json (v2/v3 `packages`), each package without its nested node_modules. */
async function dependencyFiles(): Promise<string[]> {
  const lock = JSON.parse(await readFile(path.join(ROOT, 'package-lock.json'), 'utf8')) as { lockfileVersion?: number; packages?: Record<string, LockEntry & { workspaces?: string[] }> };
  if (lock.packages === undefined || (lock.lockfileVersion ?? 0) < 2) throw new Error('package-lock.json must be lockfileVersion 2 or 3');
  const out: string[] = [];
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const runtimeDeps = new Set(Object.keys(pkg.dependencies ?? {}));
  const workspaces = new Set(lock.packages['']?.workspaces ?? []);
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '' || entry.dev === true) continue;
    if (workspaces.has(key)) continue; // a workspace's own entry: packaged through its link below
    // Only hoisted packages are packaged: a workspace with its own node_modules would ship without it.
    if (!key.startsWith('node_modules/')) throw new Error(`package-lock.json entry ${key} is not under node_modules/: nested workspace dependencies are not packaged`);
    if (entry.link === true) {
      out.push(...(await workspaceFiles(key, entry, runtimeDeps)));
      continue;
    }
    const dir = path.join(ROOT, key);
    if (!existsSync(dir)) {
      if (entry.optional === true || entry.devOptional === true) continue;
      throw new Error(`${key} is missing: run \`npm ci\` first`);
    }
    const installed = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { version?: unknown };
    if (entry.version !== undefined && installed.version !== entry.version) {
      throw new Error(`${key} is ${String(installed.version)} but package-lock.json wants ${entry.version}: run \`npm ci\``);
    }
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const allow = PACKAGE_KEEP[name];
    out.push(
      ...(await walk(key, (rel, isDir) => {
        const base = path.posix.basename(rel);
        if (isDir && (base === 'node_modules' || base === '.bin')) return false;
        if (isDir) return true;
        return !DEPENDENCY_SKIP.test(base) && (allow === undefined || allow(rel.slice(key.length + 1)));
      })),
    );
  }
  return out;
}

/**
 * A workspace linked into node_modules (`node_modules/@hearth/protocol` → `protocol`): packaged
 * when the daemon depends on it, as the link itself plus the workspace's package.json and
 * compiled JavaScript. Workspaces only the tests use (the SDK) stay out.
 */
async function workspaceFiles(key: string, entry: LockEntry, runtimeDeps: ReadonlySet<string>): Promise<string[]> {
  const name = key.slice('node_modules/'.length);
  if (!runtimeDeps.has(name)) return [];
  const dir = entry.resolved;
  if (dir === undefined || dir.startsWith('.') || path.isAbsolute(dir)) throw new Error(`package-lock.json entry ${key} links outside the tree (${String(dir)})`);
  if (!existsSync(path.join(ROOT, dir, 'dist', 'index.js'))) throw new Error(`${dir}/dist is missing: run \`npm run build\` first`);
  const files = await walk(dir, (rel, isDir) => {
    const inner = rel.slice(dir.length + 1);
    if (isDir) return inner === 'dist' || inner.startsWith('dist/');
    return inner === 'package.json' || (inner.startsWith('dist/') && inner.endsWith('.js'));
  });
  return [await checkedLink(key), ...files];
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`package-artifact: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
