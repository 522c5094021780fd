// SIGTERM (and Ctrl-C's SIGINT) drain the workers and stop cleanly: exit 0, no admin.sock, no
// pid file, no app sockets left behind.
import { access, rm } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { startHearth } from '../support/hearth-process.js';

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} drains the workers and exits 0, removing admin.sock and the pid file`, async (t) => {
    const h = await startHearth({ keepDir: true });
    t.teardown(async () => {
      await h.stop('SIGKILL');
      await rm(h.dir, { recursive: true, force: true });
    });
    const workers = (await h.status()).workers.map((w) => w.pid);

    const code = await h.stop(signal);
    t.is(code, 0, h.output());
    for (const f of [path.join(h.runDir, 'admin.sock'), path.join(h.runDir, 'hearth.pid'), h.socket('demo', 'http'), h.socket('demo', 'grpc')]) {
      await t.throwsAsync(access(f), { code: 'ENOENT' }, `${f} should be gone`);
    }
    const out = h.output();
    t.regex(out, /"msg":"draining workers"/);
    t.is(out.match(/"msg":"drained; exiting"/g)?.length, workers.length, 'every worker drained');
    t.notRegex(out, /worker exited unexpectedly/);
    t.regex(out, /"msg":"stopped"/);
    // The workers are gone too.
    for (const pid of workers) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  });
}
