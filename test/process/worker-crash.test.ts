// `kill -9` of one worker: the other keeps serving on the very same sockets (same inode), and the
// supervisor forks a replacement.
import { stat } from 'node:fs/promises';
import test from 'ava';
import { HttpClient } from '../helpers/http-client.js';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import { waitFor } from '../support/wait.js';

let h: HearthProcess;

test.before(async () => {
  h = await startHearth({ workers: 2 });
});
test.after.always(async () => {
  await h?.stop();
});

test.serial('a killed worker is replaced while the other keeps the sockets open', async (t) => {
  const http = h.socket('demo', 'http');
  const grpc = h.socket('demo', 'grpc');
  const inodes = { http: (await stat(http)).ino, grpc: (await stat(grpc)).ino };
  const before = await h.status();
  const victim = before.workers[0];
  const survivor = before.workers[1];
  if (!victim || !survivor) return t.fail('expected two workers');

  process.kill(victim.pid, 'SIGKILL');

  // Right after the kill: new connections are accepted and served.
  const client = new HttpClient(http, { token: 'demo-token', keepAlive: false });
  t.teardown(() => client.close());
  for (let i = 0; i < 5; i++) {
    const r = await client.get('/v1.0/metadata');
    t.is(r.status, 200, r.text());
  }
  t.is((await stat(http)).ino, inodes.http);
  t.is((await stat(grpc)).ino, inodes.grpc);

  const after = await waitFor('a replacement worker', async () => {
    const s = await h.status();
    const fresh = s.workers.find((w) => w.slot === victim.slot && w.pid !== victim.pid && w.state === 'ready');
    return fresh && s.ready ? s : undefined;
  });
  const replacement = after.workers.find((w) => w.slot === victim.slot);
  t.is(replacement?.restarts, 1);
  t.truthy(after.workers.find((w) => w.pid === survivor.pid && w.state === 'ready'), 'the survivor kept running');
  t.false(after.workers.some((w) => w.pid === victim.pid));
  t.is((await stat(http)).ino, inodes.http, 'the socket was never re-bound');
  t.is((await client.get('/v1.0/metadata')).status, 200);
  t.regex(h.output(), /"signal":"SIGKILL".*"msg":"worker exited unexpectedly"/);

  const metrics = await h.admin('/metrics');
  t.regex(metrics.body, new RegExp(`hearth_ops_worker_restarts_total\\{slot="${victim.slot}"\\} 1`));
});

test.serial('a hung worker makes /metrics and /v1/status partial, never hung', async (t) => {
  const before = await h.status();
  const hung = before.workers[0];
  if (!hung) return t.fail('no worker');
  process.kill(hung.pid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(hung.pid, 'SIGCONT');
    } catch {
      // already gone
    }
  });

  const metrics = await h.admin('/metrics');
  t.is(metrics.status, 200);
  t.regex(metrics.body, /^hearth_worker_process_cpu_user_seconds_total /m, 'the other worker still answered');
  t.regex(metrics.body, /^hearth_ops_ipc_failures_total\{request="metrics"\} [1-9]/m);

  const s = await h.status();
  const reported = s.workers.find((w) => w.pid === hung.pid);
  t.regex(reported?.error ?? '', /did not answer status within \d+ ms/);
  t.is(reported?.rssBytes, null);
  t.false(s.ready);
  const ready = await h.admin('/readyz');
  t.is(ready.status, 503);
  t.true(ready.body.includes(String(hung.pid)), ready.body);

  // The app sockets stay served by the other worker meanwhile.
  const client = new HttpClient(h.socket('demo', 'http'), { token: 'demo-token', keepAlive: false });
  t.teardown(() => client.close());
  t.is((await client.get('/v1.0/metadata')).status, 200);

  process.kill(hung.pid, 'SIGCONT');
  await waitFor('readiness after SIGCONT', async () => ((await h.admin('/readyz')).status === 200 ? true : undefined));
});
