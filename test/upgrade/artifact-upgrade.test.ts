// `hearth upgrade` to builds made by the packaging script, on a real `hearth start`: the new build
// serves on every worker, versions lists what is installed, rollback hands back, and a host
// without room (disk preflight) is refused before anything is forked.
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { packageBuild, type BuiltArtifact } from '../helpers/artifact-builds.js';
import { makeTempDir, startHearth, type HearthProcess } from '../support/hearth-process.js';
import { repoRoot } from '../support/repo-root.js';
import { adminHandoff, alive, hearthCli, pidsOf, readState, RequestLoop, socketInodes, writeConfig } from '../helpers/upgrade-helpers.js';

const run = promisify(execFile);
let h: HearthProcess;
let out: string;
let a: BuiltArtifact;
let b: BuiltArtifact;
/** The upgrade settings of this agent: the artifacts are read from `out`. */
const upgradeSettings = (more: Record<string, unknown> = {}): Record<string, unknown> => ({ drainTimeoutMs: 5000, allowedFileDirs: [out], ...more });

test.before(async () => {
  out = await makeTempDir();
  [a, b] = [await packageBuild('1.0.0-a', out), await packageBuild('1.0.0-b', out)];
  h = await startHearth({ config: { upgrade: upgradeSettings() } });
});
test.after.always(async () => {
  await h?.stop();
  if (out) await rm(out, { recursive: true, force: true });
});

interface Versions {
  active: { version: string; generation: number } | null;
  previous: { version: string } | null;
  installed: { version: string; dir: string; manifest: { version: string } }[];
}

async function versions(): Promise<Versions> {
  const r = await h.admin('/v1/versions');
  return JSON.parse(r.body) as Versions;
}

test.serial('upgrade to a packaged build: progress, every worker on the new version, same sockets, old generation gone', async (t) => {
  const before = await h.status();
  const inodes = await socketInodes(h);
  const loops = [RequestLoop.grpcUnary(h), RequestLoop.httpKeepAlive(h), RequestLoop.httpNewConnection(h)];
  const cli = await hearthCli(h, ['upgrade', '--artifact', a.file, '--sha256', a.sha256]);
  const stats = await Promise.all(loops.map((l) => l.stop()));

  t.is(cli.code, 0, `${cli.stdout}\n${cli.stderr}`);
  // A local copy tells its size only once the sha256 matched.
  t.notRegex(cli.stdout, /\[download\]\s+[\d.]+ MiB/);
  t.regex(cli.stdout, /\[verify\]\s+[\d.]+ MiB \/ [\d.]+ MiB \(100%\)/);
  for (const phase of ['download', 'verify', 'unpack', 'preflight', 'start', 'ready', 'drain', 'done']) {
    t.regex(cli.stdout, new RegExp(`\\[${phase}\\]\\s+done in \\d+ ms`), phase);
  }
  t.regex(cli.stdout, new RegExp(`upgrade ok: ${before.activeVersion} → 1\\.0\\.0-a`));
  for (const s of stats) t.is(s.failed, 0, s.errors.join('; '));

  const s = await h.status();
  t.is(s.activeVersion, '1.0.0-a');
  t.is(s.generation, before.generation + 1);
  t.true(s.workers.length > 0);
  for (const w of s.workers) {
    t.is(w.version, '1.0.0-a');
    t.is(w.generation, s.generation);
  }
  for (const pid of pidsOf(before)) t.false(alive(pid));
  t.deepEqual(await socketInodes(h), inodes);
  t.is(s.upgrade.lastResult?.kind, 'upgrade');
  t.is(s.upgrade.lastResult?.result, 'ok');
  t.log(`hand-off (ready → old exited): ${s.upgrade.lastResult?.handoffMs} ms; phases ${JSON.stringify(s.upgrade.lastResult?.phases)}`);

  // The workers run the installed copy, not this checkout.
  for (const w of s.workers) {
    const cmdline = (await readFile(`/proc/${w.pid}/cmdline`, 'utf8')).split('\0');
    t.true(cmdline.some((arg) => arg.endsWith('/versions/1.0.0-a/dist/agent/main.js')), cmdline.join(' '));
  }

  const status = await hearthCli(h, ['status']);
  t.regex(status.stdout, /active\s+1\.0\.0-a \(generation \d+, .*versions\/1\.0\.0-a\)/);
  t.regex(status.stdout, /last\s+upgrade .* → 1\.0\.0-a: OK/);
  t.regex(status.stdout, /phases: download \d+ ms, verify \d+ ms/);
});

test.serial('a second version: versions lists both; rollback returns to the previous one', async (t) => {
  const r = await adminHandoff(h, 'upgrade', { artifact: b.file, sha256: b.sha256 });
  t.is(r.final?.result, 'ok', JSON.stringify(r.final));
  t.false(r.lines.some((l) => l.phase === 'download' && l.bytes !== undefined));
  t.true(r.lines.some((l) => l.phase === 'verify' && l.percent === 100));

  const v = await versions();
  t.deepEqual(v.installed.map((i) => i.version).sort(), ['1.0.0-a', '1.0.0-b']);
  t.is(v.active?.version, '1.0.0-b');
  t.is(v.previous?.version, '1.0.0-a');
  const table = await hearthCli(h, ['versions']);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /active\s+1\.0\.0-b/);
  t.regex(table.stdout, /previous\s+1\.0\.0-a/);

  const rb = await hearthCli(h, ['rollback']);
  t.is(rb.code, 0, `${rb.stdout}\n${rb.stderr}`);
  t.regex(rb.stdout, /rollback ok: 1\.0\.0-b → 1\.0\.0-a/);
  const s = await h.status();
  t.is(s.activeVersion, '1.0.0-a');
  for (const w of s.workers) t.is(w.version, '1.0.0-a');
  const state = await readState(h);
  t.is(state.active?.version, '1.0.0-a');
  t.is(state.previous?.version, '1.0.0-b');
  t.deepEqual(state.history.slice(-3).map((x) => `${x.kind}:${x.to}:${x.result}`), ['upgrade:1.0.0-a:ok', 'upgrade:1.0.0-b:ok', 'rollback:1.0.0-a:ok']);
});

test.serial('an old worker that crashes during an upgrade is forked again from the old build, and the upgrade completes', async (t) => {
  const before = await h.status();
  t.is(before.activeVersion, '1.0.0-a');
  const victim = pidsOf(before)[0];
  if (victim === undefined) return t.fail('no worker');
  let killed = false;
  const r = await adminHandoff(h, 'upgrade', { artifact: b.file, sha256: b.sha256 }, (line) => {
    // While the new build is starting, one worker of the old generation dies.
    if (line.phase === 'ready' && !killed) {
      killed = true;
      process.kill(victim, 'SIGKILL');
    }
  });
  t.true(killed);
  t.is(r.final?.result, 'ok', JSON.stringify(r.final));
  // cluster.setupPrimary({ exec }) is process-wide: the replacement must still run 1.0.0-a.
  const forked = h
    .output()
    .split('\n')
    .filter((l) => l.includes('"msg":"worker forked"') && l.includes(`"generation":${before.generation},`) && l.includes('"restarts":1'));
  t.true(forked.length >= 1, 'the old generation restarted its slot');
  for (const l of forked) t.regex(l, /"exec":"[^"]*\/versions\/1\.0\.0-a\/dist\/agent\/main\.js"/);
  const s = await h.status();
  t.is(s.activeVersion, '1.0.0-b');
  for (const w of s.workers) t.is(w.version, '1.0.0-b');
});

test.serial('disk preflight: too little free disk for the artifact is HEARTH_ERR_PREFLIGHT_DISK with the numbers; nothing changes', async (t) => {
  // diskHeadroom comes from the configuration in force: apply it with a reload first.
  await writeConfig(h, { upgrade: upgradeSettings({ diskHeadroom: 1_000_000_000 }) });
  t.teardown(async () => {
    await writeConfig(h, { upgrade: upgradeSettings() });
    await adminHandoff(h, 'reload');
  });
  t.is((await adminHandoff(h, 'reload')).final?.result, 'ok');
  const before = await h.status();

  const cli = await hearthCli(h, ['upgrade', '--artifact', b.file, '--sha256', b.sha256]);
  t.is(cli.code, 1);
  t.regex(cli.stderr, /upgrade failed \[HEARTH_ERR_PREFLIGHT_DISK\]: not enough free disk .* needs [\d.]+ MiB .*, [\d.]+ MiB available, [\d.]+ MiB missing/);
  const after = await h.status();
  t.deepEqual(pidsOf(after), pidsOf(before));
  t.is(after.activeVersion, before.activeVersion);
  t.is(after.upgrade.lastResult?.code, 'HEARTH_ERR_PREFLIGHT_DISK');
});

test.serial('with a public key configured, `hearth upgrade --signature` is required and verified', async (t) => {
  const keys = path.join(out, 'keys');
  await run(process.execPath, [path.join(repoRoot, 'dist/scripts/generate-keypair.js'), '--out', keys]);
  const sig = path.join(out, 'a.sig');
  await run(process.execPath, [path.join(repoRoot, 'dist/scripts/sign-artifact.js'), '--key', path.join(keys, 'hearth-signing.key'), '--artifact', a.file, '--out', sig]);
  await writeConfig(h, { upgrade: upgradeSettings({ publicKeyFile: path.join(keys, 'hearth-signing.pub') }) });
  t.teardown(async () => {
    await writeConfig(h, { upgrade: upgradeSettings() });
    await adminHandoff(h, 'reload');
  });
  t.is((await adminHandoff(h, 'reload')).final?.result, 'ok');

  const unsigned = await hearthCli(h, ['upgrade', '--artifact', a.file, '--sha256', a.sha256]);
  t.is(unsigned.code, 1);
  t.regex(unsigned.stderr, /\[HEARTH_ERR_ARTIFACT_SIGNATURE\]/);
  const signed = await hearthCli(h, ['upgrade', '--artifact', path.relative(h.dir, a.file), '--sha256', a.sha256, '--signature', sig]);
  t.is(signed.code, 0, `${signed.stdout}\n${signed.stderr}`);
  t.regex(signed.stdout, /sha256 and signature ok/);
  t.is((await h.status()).activeVersion, '1.0.0-a');
});

test.serial('a wrong sha256 is refused by the store and nothing changes; a malformed request is 400', async (t) => {
  const before = await h.status();
  const r = await adminHandoff(h, 'upgrade', { artifact: b.file, sha256: 'f'.repeat(64) });
  t.is(r.status, 200);
  t.is(r.final?.result, 'failed');
  t.is(r.final?.code, 'HEARTH_ERR_ARTIFACT_CHECKSUM');
  t.deepEqual(pidsOf(await h.status()), pidsOf(before));

  const bad = await adminHandoff(h, 'upgrade', { artifact: b.file, sha256: 'nothex' });
  t.is(bad.status, 400);
  t.is(bad.error?.errorCode, 'HEARTH_ERR_INVALID_ARGUMENT');
});
