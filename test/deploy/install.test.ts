// scripts/install.sh run for real into temp roots (`--root DIR --no-enable`: the layout, without
// touching this machine's systemd), with artifacts built by package-artifact: a second run
// changes nothing and says so; a second version moves `current` without a moment where it does
// not resolve and keeps the first; a wrong sha256 changes nothing; an operator's configuration is
// never overwritten; --uninstall keeps configuration and data, --purge does not; installing into
// / without root is refused. Each test has its own root, so they run concurrently.
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import test from 'ava';
import { packageBuild, patchedBuild, type BuiltArtifact } from '../helpers/artifact-builds.js';
import { makeTempDir } from '../support/hearth-process.js';
import { INSTALL_SH, installSh, requireTool, runTool, snapshotTree, SYSTEMD_DIR, treeDiff, type RunResult } from './deploy-helpers.js';

let work: string;
let v1: BuiltArtifact;
let v2: BuiltArtifact;

test.before(async () => {
  work = await makeTempDir();
  const out = path.join(work, 'artifacts');
  v1 = await packageBuild('0.9.1-a', out);
  v2 = await patchedBuild(v1, '0.9.1-b', out, {});
});

test.after.always(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function newRoot(): Promise<string> {
  return mkdtemp(path.join(work, 'root-'));
}

function install(root: string, a: BuiltArtifact, ...extra: string[]): Promise<RunResult> {
  return installSh(['--artifact', a.file, '--sha256', a.sha256, '--root', root, '--no-enable', '--node', process.execPath, ...extra]);
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Regular files and links left under root (directories do not count). */
async function leftovers(root: string): Promise<string[]> {
  return [...(await snapshotTree(root))].filter(([, v]) => !v.startsWith('dir ')).map(([k]) => k);
}

test('installs the layout; a second run changes nothing and says so', async (t) => {
  const root = await newRoot();
  const first = await install(root, v1);
  t.is(first.code, 0, first.stdout + first.stderr);
  t.regex(first.stdout, /verifying sha256/);
  t.regex(first.stdout, /hearth 0\.9\.1-a installed under/);

  const opt = path.join(root, 'opt/hearth');
  t.is(await readlink(path.join(opt, 'current')), 'versions/0.9.1-a');
  t.is((JSON.parse(await readFile(path.join(opt, 'current/manifest.json'), 'utf8')) as { version: string }).version, '0.9.1-a');
  t.true(await exists(path.join(opt, 'current/dist/ops-agent/main.js')));
  t.true(await exists(path.join(opt, 'current/node_modules/better-sqlite3/build/Release/better_sqlite3.node')));
  t.regex(await readFile(path.join(opt, 'versions/0.9.1-a/.hearth-install.json'), 'utf8'), new RegExp(`"sha256": "${v1.sha256}"`));
  t.is(await readlink(path.join(root, 'usr/local/bin/hearth')), '/opt/hearth/bin/hearth');
  for (const [from, to] of [
    ['hearth.service', 'usr/local/lib/systemd/system/hearth.service'],
    ['tmpfiles.d/hearth.conf', 'usr/local/lib/tmpfiles.d/hearth.conf'],
    ['sysusers.d/hearth.conf', 'usr/local/lib/sysusers.d/hearth.conf'],
    ['hearth.yaml', 'etc/hearth/hearth.yaml'],
  ] as const) {
    t.is(await readFile(path.join(root, to), 'utf8'), await readFile(path.join(SYSTEMD_DIR, from), 'utf8'), to);
  }
  t.deepEqual(await readdir(path.join(opt, 'versions')), ['0.9.1-a'], 'no temp dir left');

  const before = await snapshotTree(root);
  const second = await install(root, v1);
  t.is(second.code, 0, second.stdout + second.stderr);
  t.regex(second.stdout, /nothing changed: hearth 0\.9\.1-a is installed/);
  t.notRegex(second.stdout, /: (installed|switched|linked) /);
  t.deepEqual(treeDiff(before, await snapshotTree(root)), [], 'the second run touched nothing');
});

test('a second version switches `current` atomically and keeps the first', async (t) => {
  const root = await newRoot();
  t.is((await install(root, v1)).code, 0);
  const current = path.join(root, 'opt/hearth/current');

  // Read the link continuously while the second install runs: it must always resolve to a version.
  let done = false;
  const seen = new Set<string>();
  const broken: string[] = [];
  const watcher = (async () => {
    while (!done) {
      try {
        seen.add(readlinkSync(current));
      } catch (err) {
        broken.push((err as NodeJS.ErrnoException).code ?? String(err));
      }
      await tick();
    }
  })();
  const r = await install(root, v2);
  done = true;
  await watcher;

  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /switched .*current -> versions\/0\.9\.1-b \(was versions\/0\.9\.1-a, kept\)/);
  t.deepEqual(broken, [], 'current never failed to resolve');
  t.deepEqual([...seen].sort(), ['versions/0.9.1-a', 'versions/0.9.1-b']);
  t.is(await readlink(current), 'versions/0.9.1-b');
  t.is((JSON.parse(await readFile(path.join(root, 'opt/hearth/versions/0.9.1-a/manifest.json'), 'utf8')) as { version: string }).version, '0.9.1-a');
  t.is((JSON.parse(await readFile(path.join(current, 'manifest.json'), 'utf8')) as { version: string }).version, '0.9.1-b');
});

test('a wrong sha256 exits non-zero and changes nothing', async (t) => {
  const root = await newRoot();
  t.is((await install(root, v1)).code, 0);
  const before = await snapshotTree(root);
  const r = await installSh(['--artifact', v2.file, '--sha256', v1.sha256, '--root', root, '--no-enable']);
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`error: sha256 mismatch for .*: expected ${v1.sha256}, got ${v2.sha256}; nothing was installed`));
  t.deepEqual(treeDiff(before, await snapshotTree(root)), []);

  const empty = await newRoot();
  const fresh = await installSh(['--artifact', v1.file, '--sha256', v2.sha256, '--root', empty]);
  t.is(fresh.code, 1);
  t.deepEqual(await leftovers(empty), [], 'nothing written into an empty root');
  t.deepEqual([...(await snapshotTree(empty)).keys()], []);
});

test('a missing artifact, a malformed --sha256 and an unknown option are clear errors', async (t) => {
  const root = await newRoot();
  const missing = await installSh(['--artifact', path.join(work, 'nope.tgz'), '--sha256', v1.sha256, '--root', root]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /error: artifact not found: .*nope\.tgz/);
  const malformed = await installSh(['--artifact', v1.file, '--sha256', 'abc', '--root', root]);
  t.is(malformed.code, 1);
  t.regex(malformed.stderr, /--sha256 must be 64 hex digits/);
  // The node path is written into the service's start wrapper: characters that would need quoting are refused.
  const quoted = await installSh(['--artifact', v1.file, '--sha256', v1.sha256, '--root', root, '--node', '/opt/my "node"/bin/node']);
  t.is(quoted.code, 1);
  t.regex(quoted.stderr, /characters the start wrapper cannot hold safely/);
  const unknown = await installSh(['--frobnicate']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown argument: --frobnicate[\s\S]*usage: install\.sh/);
  t.deepEqual([...(await snapshotTree(root)).keys()], []);
});

test('an existing /etc/hearth/hearth.yaml is never overwritten', async (t) => {
  const root = await newRoot();
  const config = path.join(root, 'etc/hearth/hearth.yaml');
  await mkdir(path.dirname(config), { recursive: true });
  const mine = '# the operator\'s own\nversion: 1\napps: []\n';
  await writeFile(config, mine, { mode: 0o640 });
  for (const a of [v1, v2]) {
    const r = await install(root, a);
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /kept .*etc\/hearth\/hearth\.yaml \(an existing configuration is never overwritten\)/);
  }
  t.is(await readFile(config, 'utf8'), mine);
  t.is((await lstat(config)).mode & 0o777, 0o640);
});

test('--uninstall removes the units and /opt/hearth but keeps /etc/hearth and /var/lib/hearth', async (t) => {
  const root = await newRoot();
  t.is((await install(root, v1)).code, 0);
  await mkdir(path.join(root, 'var/lib/hearth'), { recursive: true });
  await writeFile(path.join(root, 'var/lib/hearth/hearth.db'), 'data');
  const r = await installSh(['--uninstall', '--root', root]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /kept .*etc\/hearth/);
  t.regex(r.stdout, /kept .*var\/lib\/hearth/);
  t.regex(r.stdout, /hearth uninstalled/);
  t.deepEqual((await leftovers(root)).sort(), ['etc/hearth/hearth.yaml', 'var/lib/hearth/hearth.db']);

  const again = await installSh(['--uninstall', '--root', root]);
  t.is(again.code, 0);
  t.regex(again.stdout, /nothing to remove/);
});

test('--uninstall --purge removes everything, configuration and data included', async (t) => {
  const root = await newRoot();
  t.is((await install(root, v1)).code, 0);
  await mkdir(path.join(root, 'var/lib/hearth/versions'), { recursive: true });
  await writeFile(path.join(root, 'var/lib/hearth/hearth.db'), 'data');
  const r = await installSh(['--uninstall', '--purge', '--root', root]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /purged .*etc\/hearth/);
  t.regex(r.stdout, /purged .*var\/lib\/hearth/);
  t.deepEqual(await leftovers(root), []);
  t.false(await exists(path.join(root, 'opt/hearth')));
  t.false(await exists(path.join(root, 'etc/hearth')));
  t.false(await exists(path.join(root, 'var/lib/hearth')));
});

test('installing into / without root is refused before anything is read or written', async (t) => {
  // A copy of the script and its unit files that an unprivileged user can read.
  const copy = await mkdtemp(path.join(os.tmpdir(), 'hx-inst-'));
  t.teardown(() => rm(copy, { recursive: true, force: true }));
  await chmod(copy, 0o755);
  await mkdir(path.join(copy, 'scripts'));
  await cp(INSTALL_SH, path.join(copy, 'scripts/install.sh'));
  await cp(SYSTEMD_DIR, path.join(copy, 'systemd'), { recursive: true });
  const args = [path.join(copy, 'scripts/install.sh'), '--artifact', v1.file, '--sha256', v1.sha256];
  let r: RunResult;
  if (process.getuid?.() === 0) {
    const setpriv = await requireTool('setpriv', 'util-linux');
    r = await runTool(setpriv, ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/bash', ...args]);
  } else {
    r = await runTool('/bin/bash', args);
  }
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /error: installing into \/ needs root \(run with sudo\), or give --root DIR/);
  t.is(r.stdout, '');
});
