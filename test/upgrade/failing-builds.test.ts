// Builds that pass every artifact check but cannot serve: one that exits at start, one that never
// reports ready, one whose self-check fails. Each upgrade fails with HEARTH_ERR_GENERATION_FAILED
// and its reason, the new generation is stopped, and the old one keeps serving untouched (same
// pids, requests succeed throughout). A build that crash-loops after it took over is rolled back
// automatically.
import { rm } from 'node:fs/promises';
import test from 'ava';
import { BROKEN, packageBuild, patchedBuild, type BuiltArtifact } from '../helpers/artifact-builds.js';
import { makeTempDir, startHearth, type HearthProcess } from '../support/hearth-process.js';
import { adminHandoff, alive, hearthCli, pidsOf, RequestLoop, socketInodes, waitForStatus } from '../helpers/upgrade-helpers.js';
import { sleep } from '../support/wait.js';

let h: HearthProcess;
let out: string;
let good: BuiltArtifact;
const broken = new Map<keyof typeof BROKEN, BuiltArtifact>();

test.before(async () => {
  out = await makeTempDir();
  good = await packageBuild('2.0.0-good', out);
  for (const [name, patches] of Object.entries(BROKEN) as [keyof typeof BROKEN, (typeof BROKEN)[keyof typeof BROKEN]][]) {
    broken.set(name, await patchedBuild(good, `2.0.0-${name.toLowerCase()}`, out, patches));
  }
  h = await startHearth({
    config: { upgrade: { readyTimeoutMs: 15_000, drainTimeoutMs: 5000, crashLoopRestarts: 3, crashLoopWindowMs: 120_000, allowedFileDirs: [out] } },
  });
  // The good build is the one the crash-looping build must hand back to.
  const r = await adminHandoff(h, 'upgrade', { artifact: good.file, sha256: good.sha256 });
  if (r.final?.result !== 'ok') throw new Error(`upgrade to the good build failed: ${JSON.stringify(r.final)}`);
});
test.after.always(async () => {
  await h?.stop();
  if (out) await rm(out, { recursive: true, force: true });
});

const cases = [
  ['exitAtStart', 'a build that exits at start', /worker \d \(pid \d+\) exited before ready \(code 3/],
  ['neverReady', 'a build that never reports ready', /not ready within 15000 ms/],
  ['selfCheckFails', 'a build whose self-check fails', /failed to start: self-check failed: injected by the test/],
] as const;

for (const [name, title, reason] of cases) {
  test.serial(`${title}: HEARTH_ERR_GENERATION_FAILED with the reason; the old generation keeps serving`, async (t) => {
    const artifact = broken.get(name);
    if (!artifact) return t.fail('not built');
    const before = await h.status();
    const inodes = await socketInodes(h);
    const loops = [RequestLoop.grpcUnary(h), RequestLoop.httpKeepAlive(h), RequestLoop.httpNewConnection(h)];
    const cli = await hearthCli(h, ['upgrade', '--artifact', artifact.file, '--sha256', artifact.sha256]);
    const stats = await Promise.all(loops.map((l) => l.stop()));

    t.is(cli.code, 1, cli.stdout);
    t.regex(cli.stderr, /upgrade failed \[HEARTH_ERR_GENERATION_FAILED\]: generation \d+ \(2\.0\.0-/);
    t.regex(cli.stderr, reason);
    for (const s of stats) t.is(s.failed, 0, s.errors.join('; '));

    const after = await h.status();
    t.deepEqual(pidsOf(after), pidsOf(before), 'the same workers serve');
    t.is(after.generation, before.generation);
    t.is(after.activeVersion, '2.0.0-good');
    t.true(after.ready, after.problems.join('; '));
    t.deepEqual(await socketInodes(h), inodes);
    const last = after.upgrade.lastResult;
    t.is(last?.result, 'failed');
    t.is(last?.code, 'HEARTH_ERR_GENERATION_FAILED');
    t.regex(last?.reason ?? '', reason);
    t.is(last?.to, artifact.version);
    t.deepEqual(Object.keys(last?.phases ?? {}).slice(-2), ['start', 'ready'], 'it failed in ready, before any drain');
    t.false(after.workers.some((w) => w.version === artifact.version), 'no worker of the broken build is left');
    t.regex((await hearthCli(h, ['status'])).stdout, /last\s+upgrade .* FAILED \[HEARTH_ERR_GENERATION_FAILED\][\s\S]*reason: generation/);
  });
}

test.serial('a build that crash-loops after taking over is rolled back automatically', async (t) => {
  const artifact = broken.get('crashAfterReady');
  if (!artifact) return t.fail('not built');
  const r = await adminHandoff(h, 'upgrade', { artifact: artifact.file, sha256: artifact.sha256 });
  // It was ready, so the hand-off itself completed; the crashes come after.
  t.is(r.final?.result, 'ok', JSON.stringify(r.final));
  const badPids = pidsOf(await h.status()).filter(Boolean);

  const s = await waitForStatus(h, 'the automatic rollback', (x) => x.upgrade.lastResult?.kind === 'auto-rollback' && x.ready, 90_000);
  const last = s.upgrade.lastResult;
  t.is(last?.result, 'ok');
  t.is(last?.from, artifact.version);
  t.is(last?.to, '2.0.0-good');
  t.regex(last?.reason ?? '', /crash loop: \d+ worker crash\(es\) of 2\.0\.0-crashafterready .*\(limit 3\)/);
  t.is(s.activeVersion, '2.0.0-good');
  for (const w of s.workers) t.is(w.version, '2.0.0-good');
  for (const pid of badPids) t.false(alive(pid));
  t.regex((await hearthCli(h, ['status'])).stdout, /last\s+auto-rollback 2\.0\.0-crashafterready → 2\.0\.0-good: OK[\s\S]*reason: crash loop/);

  // And it serves.
  const loop = RequestLoop.httpNewConnection(h);
  await sleep(300);
  const stats = await loop.stop();
  t.is(stats.failed, 0, stats.errors.join('; '));
  t.true(stats.ok > 0);
});
