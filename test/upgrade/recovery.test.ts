// `kill -9` of the ops-agent and all its workers in the middle of a hand-off (docs/upgrade.md
// promises recovery from any phase): the next `hearth start` on the same directories comes up consistent — the
// interrupted hand-off recorded as such, the last completed version active, no stale socket, no
// half-unpacked version.
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { packageBuild } from '../helpers/artifact-builds.js';
import { makeTempDir, startHearth } from '../support/hearth-process.js';
import { HttpClient } from '../helpers/http-client.js';
import { adminHandoff, readState, socketInodes, stopProcess, type HandoffCall } from '../helpers/upgrade-helpers.js';
import { waitFor } from '../support/wait.js';

test('kill -9 while a reload waits for a hung new generation: the next start records it as interrupted and serves the same version', async (t) => {
  const h = await startHearth();
  t.teardown(() => h.stop());
  const before = await h.status();

  // The new generation's workers are stopped as soon as they are forked: the reload hangs in `ready`.
  const call: Promise<HandoffCall | Error> = adminHandoff(h, 'reload', undefined, (line) => {
    const pids = line.phase === 'ready' ? /pid\(s\) ([\d, ]+) to report ready/.exec(line.message ?? '')?.[1] : undefined;
    for (const pid of pids?.split(', ').map(Number) ?? []) stopProcess(t, pid);
  }).catch((err: Error) => err);
  await waitFor('the reload to hang in ready', async () => ((await readState(h)).inProgress?.phase === 'ready' ? true : undefined));

  await h.kill9();
  t.true((await call) instanceof Error, 'the connection died with the agent');
  const killed = await readState(h);
  t.is(killed.inProgress?.kind, 'reload');

  await h.restart();
  const state = await readState(h);
  t.is(state.inProgress, undefined);
  t.is(state.lastResult?.kind, 'reload');
  t.is(state.lastResult?.result, 'failed');
  t.is(state.lastResult?.code, 'HEARTH_ERR_UPGRADE_INTERRUPTED');
  t.regex(state.lastResult?.reason ?? '', /interrupted by ops-agent restart \(during ready\)/);
  t.is(state.active?.version, before.activeVersion);

  const after = await h.status();
  t.true(after.ready, after.problems.join('; '));
  t.is(after.activeVersion, before.activeVersion);
  t.is(after.upgrade.lastResult?.code, 'HEARTH_ERR_UPGRADE_INTERRUPTED');
  const c = new HttpClient(h.socket('demo', 'http'), { token: 'demo-token', keepAlive: false });
  t.teardown(() => c.close());
  t.is((await c.get('/v1.0/metadata')).status, 200);
  t.regex(h.output(), /removed stale socket left by a previous run/);
  // And hand-offs work again.
  t.is((await adminHandoff(h, 'reload')).final?.result, 'ok');
});

test('kill -9 while an upgrade unpacks: the next start removes the unfinished unpack and keeps the previous version active', async (t) => {
  const out = await makeTempDir();
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const artifact = await packageBuild('3.0.0-cut', out);
  const h = await startHearth({ config: { upgrade: { allowedFileDirs: [out] } } });
  t.teardown(() => h.stop());
  const before = await h.status();
  const inodesBefore = Object.keys(await socketInodes(h));

  let unpacking!: () => void;
  const reachedUnpack = new Promise<void>((resolve) => (unpacking = resolve));
  const call = adminHandoff(h, 'upgrade', { artifact: artifact.file, sha256: artifact.sha256 }, (line) => {
    if (line.phase === 'unpack') unpacking();
  }).catch((err: Error) => err);
  await reachedUnpack;
  await h.kill9();
  await call;

  await h.restart();
  const versionsDir = path.join(h.stateDir, 'versions');
  const left = await readdir(versionsDir).catch(() => [] as string[]);
  t.deepEqual(left.filter((n) => n.startsWith('.')), [], 'no unfinished unpack is left');
  const state = await readState(h);
  t.is(state.inProgress, undefined);
  t.is(state.lastResult?.code, 'HEARTH_ERR_UPGRADE_INTERRUPTED');
  t.is(state.active?.version, before.activeVersion);
  const after = await h.status();
  t.true(after.ready);
  t.is(after.activeVersion, before.activeVersion);
  for (const w of after.workers) t.is(w.version, before.activeVersion);
  t.deepEqual(Object.keys(await socketInodes(h)), inodesBefore);

  // The same artifact installs cleanly afterwards.
  const r = await adminHandoff(h, 'upgrade', { artifact: artifact.file, sha256: artifact.sha256 });
  t.is(r.final?.result, 'ok', JSON.stringify(r.final));
  t.is((await h.status()).activeVersion, '3.0.0-cut');
});
