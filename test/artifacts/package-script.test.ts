// The packaging script (scripts/package-artifact.ts), run for real once: what the archive holds
// and what it must not, its name and its .sha256.
import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import test from 'ava';
import { list, type ReadEntry } from 'tar';
import { HANDOFF_PROTOCOL_VERSION } from '../../upgrade/handoff-protocol.js';
import { buildArtifact, PACKAGE_SCRIPT, sha256Of, tempDir, TEST_VERSION, type BuiltArtifact } from './artifact-helpers.js';

interface Listed {
  readonly path: string;
  readonly type: string;
}

let built: BuiltArtifact | undefined;
const entries: Listed[] = [];
let manifest: Record<string, unknown> = {};
let pkg: Record<string, unknown> = {};

test.before(async () => {
  built = await buildArtifact();
  const texts = new Map<string, string>();
  await list({
    file: built.file,
    onReadEntry: (e: ReadEntry) => {
      entries.push({ path: e.path, type: e.type });
      if (e.path === 'manifest.json' || e.path === 'package.json') {
        let text = '';
        e.on('data', (c: Buffer) => (text += c.toString('utf8')));
        e.on('end', () => texts.set(e.path, text));
      }
    },
  });
  manifest = JSON.parse(texts.get('manifest.json') ?? '{}') as Record<string, unknown>;
  pkg = JSON.parse(texts.get('package.json') ?? '{}') as Record<string, unknown>;
});

test.after.always(async () => {
  if (built) await rm(built.dir, { recursive: true, force: true });
});

function paths(): string[] {
  return entries.map((e) => e.path);
}

test('the name says version, platform, arch and Node ABI; progress and paths are printed', (t) => {
  const b = built as BuiltArtifact;
  t.is(b.name, `hearth-${TEST_VERSION}-${process.platform}-${process.arch}-node${process.versions.modules}.tgz`);
  t.regex(b.stdout, /\d+ files, [\d.]+ MiB unpacked, [\d.]+ MiB compressed, [\d.]+ s/);
  t.true(b.stdout.includes(`wrote ${b.file}\n`));
  t.true(b.stdout.includes(`wrote ${b.file}.sha256\n`));
});

test('the .sha256 file matches the archive, in sha256sum format', async (t) => {
  const b = built as BuiltArtifact;
  const line = await readFile(`${b.file}.sha256`, 'utf8');
  t.is(line, `${sha256Of(await readFile(b.file))}  ${b.name}\n`);
});

test('manifest.json carries the build facts; package.json the build version', (t) => {
  t.like(manifest, {
    name: 'hearth',
    version: TEST_VERSION,
    platform: process.platform,
    arch: process.arch,
    nodeAbi: Number(process.versions.modules),
    protocol: HANDOFF_PROTOCOL_VERSION,
    entry: { worker: 'dist/agent/main.js', cli: 'dist/ops-agent/main.js' },
  });
  t.false(Number.isNaN(Date.parse(String(manifest.builtAt))));
  t.is(pkg.version, TEST_VERSION);
  t.is(pkg.name, 'hearth');
});

test('the archive holds the runtime: dist, proto, production dependencies, the native binary', (t) => {
  const all = new Set(paths());
  for (const p of [
    'dist/agent/main.js',
    'dist/ops-agent/main.js',
    'dist/upgrade/handoff-protocol.js',
    'dist/scripts/package-artifact.js',
    'dist/ops-agent/artifacts/artifact-store.js',
    'proto/hearth/runtime/v1/state.proto',
    'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
    'node_modules/better-sqlite3/lib/index.js',
    'node_modules/better-sqlite3/package.json',
    'node_modules/@grpc/grpc-js/package.json',
    'node_modules/fastify/package.json',
    'node_modules/tar/package.json',
    // a nested production dependency
    'node_modules/tar/node_modules/chownr/package.json',
  ]) {
    t.true(all.has(p), p);
  }
  t.is(entries[0]?.path, 'manifest.json', 'the manifest comes first');
});

test('no dev dependencies, tests, benchmarks, source maps, .bin links or native build leftovers', (t) => {
  const bad = paths().filter(
    (p) =>
      /^node_modules\/(ava|typescript|eslint|@ava|typescript-eslint|hdr-histogram-js|@types\/better-sqlite3)\//.test(p) ||
      p.startsWith('dist/test/') ||
      p.startsWith('dist/bench/') ||
      p.endsWith('.map') ||
      p.includes('/.bin/') ||
      /^node_modules\/better-sqlite3\/(deps|src)\//.test(p) ||
      /^node_modules\/better-sqlite3\/build\/Release\/(obj|test_extension)/.test(p) ||
      p.endsWith('.a'),
  );
  t.deepEqual(bad, []);
});

test('every entry is a plain file or symlink with a relative path, in sorted order', (t) => {
  t.deepEqual(
    entries.filter((e) => e.type !== 'File' && e.type !== 'SymbolicLink'),
    [],
  );
  t.deepEqual(paths().filter((p) => p.startsWith('/') || p.split('/').includes('..')), []);
  const rest = paths().slice(2);
  t.deepEqual(rest, [...rest].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
});

test('an invalid build version is refused', async (t) => {
  const dir = await tempDir('hx-art-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const code = await new Promise<number | null>((resolve) => {
    const child = execFile(process.execPath, [PACKAGE_SCRIPT, '--out', dir], { env: { ...process.env, HEARTH_BUILD_VERSION: '../1.0' }, timeout: 60_000 });
    child.on('exit', (c) => resolve(c));
  });
  t.is(code, 1);
  t.deepEqual(await readdir(dir), []);
});
