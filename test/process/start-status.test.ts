// `hearth start` with two workers: the real CLI's status, socket and directory modes, and the
// admin API's aggregated metrics.
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { HttpClient } from '../helpers/http-client.js';
import { repoRoot } from '../support/repo-root.js';
import { runHearthCli, startHearth, type HearthProcess } from '../support/hearth-process.js';

const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
let h: HearthProcess;

test.before(async () => {
  h = await startHearth({ workers: 2 });
});
test.after.always(async () => {
  await h?.stop();
});

test('two ready workers of this version; `hearth status` shows their pids, versions and memory', async (t) => {
  const s = await h.status();
  t.true(s.ready, JSON.stringify(s.problems));
  t.is(s.pid, h.pid);
  t.is(s.version, version);
  t.is(s.workers.length, 2);
  for (const w of s.workers) {
    t.is(w.state, 'ready');
    t.is(w.version, version);
    t.is(w.generation, 1);
    t.true((w.rssBytes ?? 0) > 0);
    t.not(w.pid, h.pid);
  }
  t.deepEqual(s.apps.map((a) => a.id), ['demo', 'other']);
  t.true(s.components.length >= 4);
  t.true(s.components.every((c) => c.healthy && c.workers.total === 2));

  const table = await runHearthCli(['status', '--config', h.configPath]);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /READY/);
  for (const w of s.workers) t.true(table.stdout.includes(String(w.pid)), table.stdout);
  t.true(table.stdout.includes(version));
  t.regex(table.stdout, /MiB/);
  t.regex(table.stdout, /state\.sqlite\s+healthy/);
  t.regex(table.stdout, /APP\s+GRPC\s+HTTP\s+WIRE\s+STREAMS\s+BUFFERED\s+PENDING CALLS/, 'the apps table shows what each app holds');

  const json = await runHearthCli(['status', '--run-dir', h.runDir, '--json']);
  t.is(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { workers: Array<{ pid: number }> };
  t.deepEqual(parsed.workers.map((w) => w.pid).sort(), s.workers.map((w) => w.pid).sort());
});

test('app sockets and admin.sock are 0660, app dirs 0750, state dir 0700', async (t) => {
  for (const app of ['demo', 'other']) {
    for (const kind of ['grpc', 'http'] as const) {
      const st = await stat(h.socket(app, kind));
      t.true(st.isSocket(), `${app}/${kind}`);
      t.is(st.mode & 0o777, 0o660, `${app}/${kind}.sock mode ${(st.mode & 0o777).toString(8)}`);
    }
    t.is((await stat(path.join(h.runDir, 'apps', app))).mode & 0o777, 0o750);
  }
  t.is((await stat(path.join(h.runDir, 'admin.sock'))).mode & 0o777, 0o660);
  t.is((await stat(h.stateDir)).mode & 0o777, 0o700);
  t.is((await stat(path.join(h.runDir, 'hearth.pid'))).isFile(), true);
});

test('/healthz, /readyz, and /metrics summing counters across workers', async (t) => {
  t.is((await h.admin('/healthz')).status, 200);
  t.is((await h.admin('/readyz')).status, 200);

  // One connection per request, so the kernel spreads them over both workers.
  const client = new HttpClient(h.socket('other', 'http'), { token: 'other-token', keepAlive: false });
  t.teardown(() => client.close());
  const n = 6;
  for (let i = 0; i < n; i++) t.is((await client.get('/v1.0/metadata')).status, 200);

  const m = await h.admin('/metrics');
  t.is(m.status, 200);
  t.regex(m.body, new RegExp(`hearth_requests_total\\{app="other",api="metadata.get",transport="http",code="OK"\\} ${n}\\b`), m.body);
  t.regex(m.body, /^hearth_worker_process_cpu_user_seconds_total /m);
  t.regex(m.body, /^hearth_ops_workers\{state="ready",generation="1"\} 2$/m);
  t.regex(m.body, /^# TYPE hearth_ops_worker_restarts_total counter$/m);
});
