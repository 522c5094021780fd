// The persisted upgrade state on a real directory: what a write leaves on disk, what a start
// makes of a torn temp file, an unreadable file or a newer format, and the bounded history.
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { STATE_FILE, UpgradeStateFile, type HandoffResult } from '../../ops-agent/upgrade/upgrade-state.js';
import { makeTempDir } from '../support/hearth-process.js';

const logger = pino({ level: 'silent' });

function result(i: number): HandoffResult {
  return { kind: 'reload', from: 'a', to: 'a', result: 'ok', phases: { ready: i }, startedAt: 'x', finishedAt: 'y' };
}

test('updates are durable JSON; a temp file left by a kill -9 is removed and ignored at load', async (t) => {
  const dir = await makeTempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const s = new UpgradeStateFile(dir, logger);
  await s.update((x) => ({ ...x, active: { version: '1.0.0', exec: '/x/dist/agent/main.js', dir: '/x', generation: 4 } }));
  await writeFile(path.join(dir, `${STATE_FILE}.tmp-deadbeef`), '{"format":1,"act');

  const again = new UpgradeStateFile(dir, logger);
  const loaded = await again.load();
  t.deepEqual(loaded.active, { version: '1.0.0', exec: '/x/dist/agent/main.js', dir: '/x', generation: 4 });
  t.deepEqual(await readdir(dir), [STATE_FILE]);
});

test('history keeps the last 10; record clears inProgress', async (t) => {
  const dir = await makeTempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const s = new UpgradeStateFile(dir, logger);
  await s.update((x) => ({ ...x, inProgress: { kind: 'reload', toVersion: 'a', phase: 'ready', startedAt: 'now' } }));
  for (let i = 0; i < 12; i++) await s.record(result(i));
  const onDisk = JSON.parse(await readFile(path.join(dir, STATE_FILE), 'utf8')) as { history: HandoffResult[]; inProgress?: unknown; lastResult: HandoffResult };
  t.is(onDisk.history.length, 10);
  t.deepEqual(onDisk.history.map((r) => r.phases.ready), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  t.is(onDisk.inProgress, undefined);
  t.is(onDisk.lastResult.phases.ready, 11);
});

test('a file that is not JSON, or of a newer format, is ignored (logged) rather than trusted', async (t) => {
  const dir = await makeTempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const text of ['{"format":1,', JSON.stringify({ format: 2, active: null, previous: null, history: [] }), JSON.stringify({ format: 1, active: { version: 1 } })]) {
    await writeFile(path.join(dir, STATE_FILE), text);
    const loaded = await new UpgradeStateFile(dir, logger).load();
    t.is(loaded.active, null, text);
    t.deepEqual(loaded.history, []);
  }
});
