// Shared by the artifact tests: the real packaging script, a store on a temp state dir, archives
// crafted header by header with node-tar (for the tampered cases), a loopback HTTP server, and
// the "nothing was installed, nothing escaped" check. Everything registers its own cleanup.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ExecutionContext } from 'ava';
import { pino } from 'pino';
import { Header, type HeaderData } from 'tar';
import type { UpgradeConfig } from '../../agent/config/config-schema.js';
import { ArtifactStore } from '../../ops-agent/artifacts/artifact-store.js';
import { HANDOFF_PROTOCOL_VERSION } from '../../upgrade/handoff-protocol.js';
import { repoRoot } from '../support/repo-root.js';

export const TEST_VERSION = '9.0.0-test';
export const repoDist = path.join(repoRoot, 'dist');
export const PACKAGE_SCRIPT = path.join(repoDist, 'scripts', 'package-artifact.js');
export const silentLogger = pino({ level: 'silent' });

export interface BuiltArtifact {
  readonly dir: string;
  readonly file: string;
  readonly name: string;
  readonly sha256: string;
  readonly stdout: string;
}

export async function tempDir(prefix = 'hx-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Runs the real packaging script into a fresh temp dir (removed by `cleanup`). */
export async function buildArtifact(version = TEST_VERSION): Promise<BuiltArtifact> {
  const dir = await tempDir('hx-art-');
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [PACKAGE_SCRIPT, '--out', dir], { env: { ...process.env, HEARTH_BUILD_VERSION: version }, timeout: 120_000 }, (err, out, errOut) => {
      if (err) reject(new Error(`package-artifact failed: ${err.message}\n${out}\n${errOut}`));
      else resolve(out);
    });
  });
  const names = (await readdir(dir)).filter((n) => n.endsWith('.tgz'));
  if (names.length !== 1 || names[0] === undefined) throw new Error(`expected one .tgz in ${dir}, got ${names.join(', ')}`);
  const name = names[0];
  const sha256 = (await readFile(path.join(dir, `${name}.sha256`), 'utf8')).split(/\s+/)[0] ?? '';
  return { dir, file: path.join(dir, name), name, sha256, stdout };
}

export function upgradeConfig(overrides: Partial<UpgradeConfig> = {}): UpgradeConfig {
  return {
    readyTimeoutMs: 60_000,
    drainTimeoutMs: 30_000,
    keepVersions: 3,
    maxArtifactBytes: 512 * 1024 * 1024,
    maxArtifactEntries: 200_000,
    maxUnpackedBytes: 2 * 1024 * 1024 * 1024,
    downloadTimeoutMs: 10_000,
    downloadRetries: 2,
    allowedFileDirs: [],
    allowedRedirectHosts: [],
    maxRedirects: 5,
    memoryHeadroom: 1.5,
    diskHeadroom: 3,
    crashLoopRestarts: 3,
    crashLoopWindowMs: 300_000,
    ...overrides,
  };
}

export interface StoreFixture {
  /** The test's temp dir: the state dir and anything else of the test live under it. */
  readonly dir: string;
  readonly stateDir: string;
  readonly store: ArtifactStore;
}

/**
 * A store on a fresh temp dir, which is also its one allowed file directory unless `overrides`
 * (or the function of the temp dir giving them) say otherwise.
 */
export async function makeStore(t: ExecutionContext, overrides: Partial<UpgradeConfig> | ((dir: string) => Partial<UpgradeConfig>) = {}): Promise<StoreFixture> {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stateDir = path.join(dir, 'state');
  const over = typeof overrides === 'function' ? overrides(dir) : overrides;
  return { dir, stateDir, store: new ArtifactStore({ stateDir, upgrade: upgradeConfig({ allowedFileDirs: [dir], ...over }), logger: silentLogger }) };
}

export const noProgress = (): void => undefined;

// ---- crafted archives ----

export interface CraftEntry {
  readonly path: string;
  readonly type?: HeaderData['type'];
  readonly data?: Buffer | string;
  readonly linkpath?: string;
  readonly mode?: number;
}

/** A gzipped tar written block by block with node-tar's Header: any path, any type. */
export function craftArchive(entries: readonly CraftEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const type = e.type ?? 'File';
    const header = new Header({
      path: e.path,
      type,
      size: type === 'File' ? data.length : 0,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      ...(e.linkpath === undefined ? {} : { linkpath: e.linkpath }),
    });
    const block = Buffer.alloc(512);
    if (header.encode(block, 0)) throw new Error(`${e.path}: needs a pax header; keep crafted paths short`);
    blocks.push(block);
    if (type === 'File' && data.length > 0) {
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

export function manifestFor(version: string, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    name: 'hearth',
    version,
    platform: process.platform,
    arch: process.arch,
    nodeAbi: Number(process.versions.modules),
    protocol: HANDOFF_PROTOCOL_VERSION,
    builtAt: new Date().toISOString(),
    entry: { worker: 'dist/agent/main.js', cli: 'dist/ops-agent/main.js' },
    ...overrides,
  });
}

/** The smallest artifact the store accepts: manifest, package.json, both entry points (+ extra entries). */
export function miniEntries(version: string, extra: readonly CraftEntry[] = [], manifest?: string): CraftEntry[] {
  return [
    { path: 'manifest.json', data: manifest ?? manifestFor(version) },
    { path: 'package.json', data: JSON.stringify({ name: 'hearth', version }) },
    { path: 'dist/', type: 'Directory' },
    { path: 'dist/agent/main.js', data: 'process.exit(0);\n' },
    { path: 'dist/ops-agent/main.js', data: 'process.exit(0);\n' },
    ...extra,
  ];
}

export interface ArtifactFile {
  readonly file: string;
  readonly sha256: string;
  readonly bytes: Buffer;
}

export async function writeArtifact(dir: string, name: string, bytes: Buffer): Promise<ArtifactFile> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return { file, sha256: sha256Of(bytes), bytes };
}

/** A valid mini artifact with `padding` incompressible bytes, so a download has something to resume. */
export async function miniArtifact(dir: string, version: string, padding = 0): Promise<ArtifactFile> {
  const extra: CraftEntry[] = padding > 0 ? [{ path: 'dist/blob.bin', data: randomBytes(padding) }] : [];
  return writeArtifact(dir, `hearth-${version}.tgz`, craftArchive(miniEntries(version, extra)));
}

export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// ---- checks ----

/** `<state>/versions` holds exactly `versions` (no `.tmp-*`), and no `evil*` exists anywhere under `root`. */
export async function assertInstalledExactly(t: ExecutionContext, stateDir: string, versions: readonly string[], root: string): Promise<void> {
  const names = existsSync(path.join(stateDir, 'versions')) ? (await readdir(path.join(stateDir, 'versions'))).sort() : [];
  t.deepEqual(names, [...versions].sort(), 'versions dir');
  t.deepEqual(await findNamed(root, /evil/), [], 'nothing written outside the temp dir');
}

async function findNamed(root: string, pattern: RegExp): Promise<string[]> {
  const found: string[] = [];
  const dirs = [root];
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    for (const d of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, d.name);
      if (pattern.test(d.name)) found.push(path.relative(root, full));
      if (d.isDirectory()) dirs.push(full);
    }
  }
  return found;
}

// ---- loopback HTTP ----

export interface TestServer {
  readonly url: string;
  readonly requests: http.IncomingHttpHeaders[];
}

/** A node:http server on a loopback address (127.0.0.1 unless told); closed (open sockets destroyed) at teardown. */
export async function serve(
  t: ExecutionContext,
  handler: (req: http.IncomingMessage, res: http.ServerResponse, attempt: number) => void,
  host = '127.0.0.1',
): Promise<TestServer> {
  const requests: http.IncomingHttpHeaders[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    handler(req, res, requests.length);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://${host}:${port}`, requests };
}

/** Serves `bytes` like a static file server: 200, or 206 for `Range: bytes=N-`. */
export function sendFile(req: http.IncomingMessage, res: http.ServerResponse, bytes: Buffer): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  if (range && start < bytes.length) {
    res.writeHead(206, { 'content-length': bytes.length - start, 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` });
    res.end(bytes.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': bytes.length });
  res.end(bytes);
}

/** Sends the headers for the whole file, the first `count` bytes, then closes the connection. */
export function sendTruncated(res: http.ServerResponse, bytes: Buffer, count: number): void {
  res.writeHead(200, { 'content-length': bytes.length });
  res.write(bytes.subarray(0, count), () => res.socket?.destroy());
}
