// A second `hearth start` on a run dir another Hearth serves refuses, and leaves the first alone.
import { readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { runHearthCli, startHearth, type HearthProcess } from '../support/hearth-process.js';

let h: HearthProcess;

test.before(async () => {
  h = await startHearth();
});
test.after.always(async () => {
  await h?.stop();
});

test.serial('a second start on the same run dir exits non-zero with a clear message', async (t) => {
  const admin = path.join(h.runDir, 'admin.sock');
  const ino = (await stat(admin)).ino;
  const httpIno = (await stat(h.socket('demo', 'http'))).ino;

  const second = await runHearthCli(['start', '--config', h.configPath]);
  t.is(second.code, 1, second.stderr);
  t.regex(second.stderr, /another Hearth \(pid \d+\) is already running on .*run/);
  t.true(second.stderr.includes(String(h.pid)));

  // The first one is untouched.
  t.is((await h.admin('/readyz')).status, 200);
  t.is((await stat(admin)).ino, ino);
  t.is((await stat(h.socket('demo', 'http'))).ino, httpIno);
  t.is((await readFile(path.join(h.runDir, 'hearth.pid'), 'utf8')).trim(), String(h.pid));
});

test.serial('without the pid file, the live sockets still make a second start refuse', async (t) => {
  const pidFile = path.join(h.runDir, 'hearth.pid');
  const aside = `${pidFile}.aside`;
  await rename(pidFile, aside);
  t.teardown(() => rename(aside, pidFile));

  const second = await runHearthCli(['start', '--config', h.configPath]);
  t.is(second.code, 1, second.stderr);
  t.regex(second.stderr, /another Hearth is already running on .*admin\.sock accepts connections/);
  t.is((await h.admin('/readyz')).status, 200);
  // The refused start took the pid file only for the check and gave it back.
  await t.throwsAsync(stat(pidFile), { code: 'ENOENT' });
});
