// Installing a real artifact built by the packaging script: from a path, a file:// URL and a
// loopback HTTP server; the installed tree runs (CLI, native module, a real `hearth start`);
// list/get/prune/recover.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { stringify as toYaml } from 'yaml';
import { defaultTestConfig, getUnix } from '../support/hearth-process.js';
import {
  assertInstalledExactly,
  buildArtifact,
  makeStore,
  miniArtifact,
  noProgress,
  sendFile,
  serve,
  tempDir,
  TEST_VERSION,
  type BuiltArtifact,
} from './artifact-helpers.js';
import type { InstallProgress } from '../../ops-agent/artifacts/artifact-store.js';
import { sleep, waitFor } from '../support/wait.js';

let built: BuiltArtifact | undefined;
test.before(async () => {
  built = await buildArtifact();
});
test.after.always(async () => {
  if (built) await rm(built.dir, { recursive: true, force: true });
});
const art = (): BuiltArtifact => built as BuiltArtifact;

function run(file: string, args: readonly string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

test('install from a path: the tree is complete, runs, and is listed', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { allowedFileDirs: [art().dir] });
  const phases: InstallProgress[] = [];
  const v = await store.install({ source: art().file, sha256: art().sha256 }, (p) => phases.push(p));

  t.is(v.version, TEST_VERSION);
  t.is(v.dir, path.join(stateDir, 'versions', TEST_VERSION));
  t.is(v.sha256, art().sha256);
  t.is(v.source, art().file);
  t.is(v.manifest.nodeAbi, Number(process.versions.modules));
  for (const p of ['manifest.json', 'package.json', 'dist/agent/main.js', 'dist/ops-agent/main.js', 'proto/hearth/runtime/v1/state.proto', 'node_modules/better-sqlite3/build/Release/better_sqlite3.node', '.hearth-install.json']) {
    t.true(existsSync(path.join(v.dir, p)), p);
  }
  t.like(JSON.parse(await readFile(path.join(v.dir, '.hearth-install.json'), 'utf8')), { version: TEST_VERSION, sha256: art().sha256 });
  t.deepEqual([...new Set(phases.map((p) => p.phase))], ['download', 'verify', 'unpack', 'install']);
  // A local copy tells no size before its sha256 matched; the verify phase tells it after.
  t.deepEqual(phases.filter((p) => p.phase === 'download' && (p.bytes !== undefined || p.total !== undefined)), []);
  t.like(phases.find((p) => p.phase === 'verify' && p.detail !== undefined), { bytes: (await readFile(art().file)).length, detail: 'sha256 ok' });
  await assertInstalledExactly(t, stateDir, [TEST_VERSION], dir);
  t.deepEqual(await readdirSafe(path.join(stateDir, 'downloads')), [], 'the downloaded copy is removed');
  t.deepEqual((await store.list()).map((x) => x.version), [TEST_VERSION]);
  t.like(await store.get(TEST_VERSION), { version: TEST_VERSION, dir: v.dir });
  t.is(await store.get('0.0.0-none'), undefined);
  t.is(await store.get('../etc'), undefined);

  // The installed build runs from its own tree: the CLI loads its config code, the native module loads.
  const cfgDir = await tempDir();
  t.teardown(() => rm(cfgDir, { recursive: true, force: true }));
  const config = path.join(cfgDir, 'hearth.yaml');
  await writeFile(config, toYaml(defaultTestConfig(1)));
  const validate = await run(process.execPath, [path.join(v.dir, v.manifest.entry.cli), 'validate', '--config', config], cfgDir);
  t.is(validate.code, 0, validate.out);
  t.regex(validate.out, /^OK /);
  const sqlite = await run(process.execPath, ['-e', `const D = require(${JSON.stringify(path.join(v.dir, 'node_modules', 'better-sqlite3'))}); console.log(new D(':memory:').prepare('select 41 + 1 as x').get().x)`], cfgDir);
  t.is(sqlite.code, 0, sqlite.out);
  t.is(sqlite.out.trim(), '42');
});

test('the installed tree serves: `hearth start` from it forks its own worker and becomes ready', async (t) => {
  const { store } = await makeStore(t, { allowedFileDirs: [art().dir] });
  const v = await store.install({ source: art().file, sha256: art().sha256 }, noProgress);
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'hearth.yaml');
  await writeFile(config, toYaml(defaultTestConfig(1)));
  const child = spawn(process.execPath, [path.join(v.dir, v.manifest.entry.cli), 'start', '--config', config], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    try {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const admin = path.join(dir, 'run', 'admin.sock');
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor('readyz from the installed build', async () => {
    if (gone) throw new Error(`exited early:\n${output}`);
    return (await getUnix(admin, '/readyz')).status === 200 ? true : undefined;
  }, { timeoutMs: 60_000 }).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n${output}`);
  });
  const status = JSON.parse((await getUnix(admin, '/v1/status')).body) as { version?: string; workers?: { version?: string }[] };
  t.is(status.version, TEST_VERSION, 'the running primary is the installed build');
  t.deepEqual(status.workers?.map((w) => w.version), [TEST_VERSION], 'and so is its worker');
  child.kill('SIGTERM');
  t.is(await exited, 0);
});

test('install from a file:// URL; installing the same artifact again reuses it', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { allowedFileDirs: [art().dir] });
  const first = await store.install({ source: pathToFileURL(art().file).href, sha256: art().sha256 }, noProgress);
  t.true(existsSync(path.join(first.dir, 'dist/agent/main.js')));
  const details: string[] = [];
  const again = await store.install({ source: art().file, sha256: art().sha256 }, (p) => p.detail !== undefined && details.push(p.detail));
  t.is(again.dir, first.dir);
  t.is(again.installedAt, first.installedAt, 'not reinstalled');
  t.true(details.some((d) => d.includes('already installed')));
  await assertInstalledExactly(t, stateDir, [TEST_VERSION], dir);
});

test('install from http://127.0.0.1 with progress', async (t) => {
  const bytes = await readFile(art().file);
  const server = await serve(t, (req, res) => sendFile(req, res, bytes));
  const { dir, stateDir, store } = await makeStore(t);
  const progress: InstallProgress[] = [];
  const v = await store.install({ source: `${server.url}/releases/${art().name}?token=secret`, sha256: art().sha256 }, (p) => progress.push(p));
  t.true(existsSync(path.join(v.dir, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')));
  t.is(v.source, `${server.url}/releases/${art().name}?…`, 'no query string (tokens) in the record');
  const downloads = progress.filter((p) => p.phase === 'download');
  t.true(downloads.length >= 2);
  t.is(downloads.at(-1)?.bytes, bytes.length);
  t.is(downloads.at(-1)?.total, bytes.length);
  await assertInstalledExactly(t, stateDir, [TEST_VERSION], dir);
});

test('a version installed from a different artifact is refused', async (t) => {
  const { dir, stateDir, store } = await makeStore(t);
  const a = await miniArtifact(dir, '1.0.0', 1000);
  await store.install({ source: a.file, sha256: a.sha256 }, noProgress);
  const b = await miniArtifact(dir, '1.0.0', 2000);
  const err = await t.throwsAsync(store.install({ source: b.file, sha256: b.sha256 }, noProgress));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_ARTIFACT_INVALID');
  t.regex(err?.message ?? '', /version 1\.0\.0 is already installed from a different artifact/);
  t.is((await store.get('1.0.0'))?.sha256, a.sha256);
  await assertInstalledExactly(t, stateDir, ['1.0.0'], dir);
});

test('prune keeps the newest N and every protected version; list is newest first', async (t) => {
  const { dir, stateDir, store } = await makeStore(t);
  const versions = ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0'];
  for (const v of versions) {
    const a = await miniArtifact(dir, v);
    await store.install({ source: a.file, sha256: a.sha256 }, noProgress);
    // installedAt has millisecond resolution: keep the order unambiguous.
    await sleep(5);
  }
  t.deepEqual((await store.list()).map((v) => v.version), [...versions].reverse());
  const removed = await store.prune(2, ['1.0.0']);
  t.deepEqual(removed.sort(), ['1.1.0', '1.2.0']);
  t.deepEqual((await store.list()).map((v) => v.version), ['1.4.0', '1.3.0', '1.0.0']);
  await assertInstalledExactly(t, stateDir, ['1.0.0', '1.3.0', '1.4.0'], dir);
  t.deepEqual(await store.prune(1, ['1.0.0', '1.3.0']), [], 'protected versions stay even past keep');
});

test('recover removes unfinished unpacks, leftover downloads and stale .part files', async (t) => {
  const { dir, stateDir, store } = await makeStore(t);
  const a = await miniArtifact(dir, '2.0.0');
  await store.install({ source: a.file, sha256: a.sha256 }, noProgress);
  const versionsDir = path.join(stateDir, 'versions');
  const downloads = path.join(stateDir, 'downloads');
  await mkdir(path.join(versionsDir, '.tmp-x', 'dist'), { recursive: true });
  await writeFile(path.join(versionsDir, '.tmp-x', 'dist', 'half.js'), '');
  await mkdir(downloads, { recursive: true });
  const stale = path.join(downloads, `${'a'.repeat(64)}.part`);
  const fresh = path.join(downloads, `${'b'.repeat(64)}.part`);
  await writeFile(stale, 'x');
  await writeFile(fresh, 'y');
  await writeFile(path.join(downloads, `${'c'.repeat(64)}.tgz`), 'z');
  const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
  await utimes(stale, twoDaysAgo, twoDaysAgo);

  await store.recover();
  await assertInstalledExactly(t, stateDir, ['2.0.0'], dir);
  t.deepEqual(await readdirSafe(downloads), [path.basename(fresh)], 'a recent .part stays for resume');
  t.like(await store.get('2.0.0'), { version: '2.0.0' });
});

async function readdirSafe(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}
