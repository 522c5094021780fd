// `hearth reload` on a real `hearth start`: a hand-off to a new generation of the same build. The
// sockets are never re-bound (same inodes), clients connected before keep working after, apps
// are added and removed, a broken configuration or a second concurrent request changes nothing.
import { access } from 'node:fs/promises';
import test from 'ava';
import { createGrpcClients } from '../helpers/grpc-client.js';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import { HttpClient } from '../helpers/http-client.js';
import { adminHandoff, alive, hearthCli, pidsOf, readState, RequestLoop, socketInodes, writeConfig } from '../helpers/upgrade-helpers.js';
import { sleep } from '../support/wait.js';

let h: HearthProcess;

test.before(async () => {
  h = await startHearth({ config: { upgrade: { drainTimeoutMs: 5000 } } });
});
test.after.always(async () => {
  await h?.stop();
});

test.serial('reload hands off to generation 2: new pids, same sockets, clients from before keep working, no request fails', async (t) => {
  const before = await h.status();
  t.is(before.generation, 1);
  const oldPids = pidsOf(before);
  const inodes = await socketInodes(h);

  // Opened before the hand-off, used after it.
  const grpc = createGrpcClients(h.socket('demo', 'grpc'), 'demo-token', { 'grpc.primary_user_agent': 'reload-test' });
  const http = new HttpClient(h.socket('demo', 'http'), { token: 'demo-token', keepAlive: true });
  t.teardown(() => {
    grpc.close();
    http.close();
  });
  t.is((await grpc.metadata.GetMetadata({})).generation, 1);
  t.is((await http.get('/v1.0/metadata')).status, 200);

  const loops = [RequestLoop.grpcUnary(h), RequestLoop.httpKeepAlive(h), RequestLoop.httpNewConnection(h)];
  const cli = await hearthCli(h, ['reload']);
  const stats = await Promise.all(loops.map((l) => l.stop()));

  t.is(cli.code, 0, `${cli.stdout}\n${cli.stderr}`);
  for (const phase of ['config', 'preflight', 'start', 'ready', 'drain', 'done']) t.regex(cli.stdout, new RegExp(`\\[${phase}\\]\\s+done in \\d+ ms`), cli.stdout);
  t.regex(cli.stdout, /reload ok: .*hand-off \(ready → old exited\) \d+ ms/);
  for (const s of stats) {
    t.is(s.failed, 0, s.errors.join('; '));
    t.true(s.ok > 0);
  }

  const after = await h.status();
  t.is(after.generation, 2);
  t.true(after.ready, after.problems.join('; '));
  const newPids = pidsOf(after);
  t.is(newPids.length, 2);
  t.deepEqual(pidsOf(after, 2), newPids, 'only generation 2 is left');
  for (const pid of oldPids) {
    t.false(newPids.includes(pid));
    t.false(alive(pid), `old worker ${pid} exited`);
  }
  t.deepEqual(await socketInodes(h), inodes, 'no socket was re-bound');
  t.is((await grpc.metadata.GetMetadata({})).generation, 2, 'the gRPC channel reconnected to the new generation by itself');
  t.is((await http.get('/v1.0/metadata')).status, 200);

  const last = after.upgrade.lastResult;
  t.is(last?.kind, 'reload');
  t.is(last?.result, 'ok');
  t.is(last?.toGeneration, 2);
  t.deepEqual(Object.keys(last?.phases ?? {}), ['config', 'preflight', 'start', 'ready', 'drain', 'done']);
  t.is(typeof last?.handoffMs, 'number');
  t.log(`hand-off (ready → old exited): ${last?.handoffMs} ms; phases ${JSON.stringify(last?.phases)}`);
  t.log(`requests during the reload: ${stats.map((s) => s.ok).join(' / ')} (gRPC channel / HTTP keep-alive / new connections)`);
  const state = await readState(h);
  t.is(state.active?.generation, 2);
  t.is(state.inProgress, undefined);
});

test.serial('a broken configuration is refused with HEARTH_ERR_CONFIG_INVALID and nothing changes', async (t) => {
  const before = await h.status();
  await writeConfig(h, { workers: 0, apps: [{ id: 'demo', token: 'demo-token' }, { id: 'other', token: 'other-token' }] });
  t.teardown(() => writeConfig(h, {}));
  const cli = await hearthCli(h, ['reload']);
  t.is(cli.code, 1);
  t.regex(cli.stderr, /reload failed \[HEARTH_ERR_CONFIG_INVALID\]: invalid configuration .*workers/s);

  const after = await h.status();
  t.deepEqual(pidsOf(after), pidsOf(before), 'the same workers serve');
  t.is(after.generation, before.generation);
  t.is(after.upgrade.lastResult?.result, 'failed');
  t.is(after.upgrade.lastResult?.code, 'HEARTH_ERR_CONFIG_INVALID');
  t.is((await readState(h)).inProgress, undefined);
});

test.serial('two reloads at once: one runs, the other is HEARTH_ERR_UPGRADE_BUSY (409)', async (t) => {
  await writeConfig(h, {});
  const before = await h.status();
  const first = adminHandoff(h, 'reload');
  // The CLI starts now: its own start-up (a node process) overlaps the first reload's hand-off
  // (which forks and waits for ready for seconds) instead of adding to it.
  const cliRun = hearthCli(h, ['reload']);
  // The second arrives while the first is running.
  await sleep(300);
  const second = await adminHandoff(h, 'reload');
  const cli = await cliRun;
  const done = await first;

  t.is(second.status, 409);
  t.is(second.error?.errorCode, 'HEARTH_ERR_UPGRADE_BUSY');
  t.regex(second.error?.message ?? '', /reload .* already in progress/);
  t.is(cli.code, 1);
  t.regex(cli.stderr, /\[HEARTH_ERR_UPGRADE_BUSY\]/);
  t.is(done.status, 200);
  t.is(done.final?.result, 'ok', JSON.stringify(done.final));
  t.is((await h.status()).generation, before.generation + 1, 'exactly one hand-off happened');
});

test.serial('reload adds an app (its sockets are created and serve) and removes one (its sockets go away)', async (t) => {
  await writeConfig(h, {
    apps: [
      { id: 'demo', token: 'demo-token' },
      { id: 'third', token: 'third-token' },
    ],
  });
  t.teardown(() => writeConfig(h, {}));
  const demoInodes = await socketInodes(h, ['demo']);
  const r = await adminHandoff(h, 'reload');
  t.is(r.final?.result, 'ok', JSON.stringify(r.final));
  t.true(r.lines.some((l) => /added: third; removed: other/.test(l.message ?? '')));

  const third = new HttpClient(h.socket('third', 'http'), { token: 'third-token', keepAlive: false });
  t.teardown(() => third.close());
  const md = await third.get('/v1.0/metadata');
  t.is(md.status, 200, md.text());
  t.is(md.json<{ id: string }>().id, 'third');
  const grpc = createGrpcClients(h.socket('third', 'grpc'), 'third-token');
  t.teardown(() => grpc.close());
  t.is((await grpc.metadata.GetMetadata({})).appId, 'third');

  for (const kind of ['grpc', 'http'] as const) await t.throwsAsync(access(h.socket('other', kind)), { code: 'ENOENT' });
  t.deepEqual(await socketInodes(h, ['demo']), demoInodes);
  const s = await h.status();
  t.deepEqual(s.apps.map((a) => a.id), ['demo', 'third']);
});
