// `kill -9` of the whole process group leaves socket files and the pid file behind; the next
// start finds nobody listening on them, removes them and serves.
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { HttpClient } from '../helpers/http-client.js';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';

let h: HearthProcess;

test.before(async () => {
  h = await startHearth();
});
test.after.always(async () => {
  await h?.stop();
});

test('the next start cleans up what a kill -9 of ops-agent and workers left', async (t) => {
  const admin = path.join(h.runDir, 'admin.sock');
  const pidFile = path.join(h.runDir, 'hearth.pid');
  const oldPid = h.pid;
  await h.kill9();

  // Left behind: nothing unlinked them.
  for (const f of [admin, pidFile, h.socket('demo', 'http'), h.socket('demo', 'grpc'), h.socket('other', 'http')]) {
    await t.notThrowsAsync(access(f), `${f} should be left behind`);
  }

  await h.restart();
  t.not(h.pid, oldPid);
  t.is((await readFile(pidFile, 'utf8')).trim(), String(h.pid));
  t.regex(h.output(), /removed stale socket left by a previous run/);
  t.regex(h.output(), /removing stale pid file/);

  const client = new HttpClient(h.socket('demo', 'http'), { token: 'demo-token', keepAlive: false });
  t.teardown(() => client.close());
  t.is((await client.get('/v1.0/metadata')).status, 200);
  t.true((await h.status()).ready);
});
