// The SDK end to end against a real `hearth start` (child processes, real sockets, SQLite and file
// components): every typed method over both transports — wire (wire.sock) and gRPC (grpc.sock) —
// serve() + invoke() between two apps, and the coded errors apps match on.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { createClient, type HearthClient, type HearthClientError, isHearthClientError, reply } from '@hearth/sdk';
import { defaultTestConfig, startHearth, type HearthProcess } from '../support/hearth-process.js';
import { waitFor } from '../support/wait.js';

const TRANSPORTS = ['wire', 'grpc'] as const;
type Kind = (typeof TRANSPORTS)[number];
const CONFIG_STORE = 'appconfig';

let h: HearthProcess;
let itemsDir: string;
let itemsFile: string;
const clients: HearthClient[] = [];

test.before(async () => {
  itemsDir = await mkdtemp(path.join(os.tmpdir(), 'hsc-'));
  itemsFile = path.join(itemsDir, 'items.yaml');
  await writeFile(itemsFile, 'greeting: hello\n');
  const components = [
    ...(defaultTestConfig().components as unknown[]),
    { name: CONFIG_STORE, type: 'configuration.file', metadata: { path: itemsFile, pollIntervalMs: 100 } },
  ];
  const apps = [
    { id: 'demo', token: 'demo-token', allow: { apps: ['*'] } },
    { id: 'other', token: 'other-token', allow: { apps: ['*'] } },
    // Callee apps, one per test and transport: tests run concurrently, and the agent balances
    // calls to an app over all of its instances (one closing in another test would answer
    // APP_UNAVAILABLE).
    ...TRANSPORTS.map((kind) => ({ id: `slow-${kind}`, token: `slow-${kind}-token` })),
    ...TRANSPORTS.map((kind) => ({ id: `callee-${kind}`, token: `callee-${kind}-token` })),
  ];
  h = await startHearth({ config: { components, apps } });
});

test.after.always(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await h?.stop();
  if (itemsDir) await rm(itemsDir, { recursive: true, force: true });
});

function client(kind: Kind, appId = 'demo', token = `${appId}-token`): HearthClient {
  const c = createClient({ appId, token, runDir: h.runDir, transport: kind, env: {} });
  clients.push(c);
  return c;
}

async function codeOf(t: ExecutionContext, p: Promise<unknown>): Promise<HearthClientError> {
  const err = await t.throwsAsync(p);
  if (!isHearthClientError(err)) throw err ?? new Error('expected a HearthClientError');
  return err;
}

function unique(prefix: string, kind: Kind): string {
  return `${prefix}-${kind}-${Math.random().toString(36).slice(2, 8)}`;
}

for (const kind of TRANSPORTS) {
  test(`${kind}: state saves and reads JSON, text and bytes, with ETags, bulk reads and deletes`, async (t) => {
    const c = client(kind);
    const k = unique('k', kind);
    const etag = await c.state.save('default', k, { n: 1 });
    t.truthy(etag);
    const got = await c.state.get('default', k);
    t.true(got.found);
    t.deepEqual(got.json(), { n: 1 });
    t.is(got.contentType, 'application/json');
    t.is(got.etag, etag);
    await c.state.save('default', `${k}-t`, 'text value');
    t.is((await c.state.get('default', `${k}-t`)).text(), 'text value');
    await c.state.save('default', `${k}-b`, Buffer.from([0, 1, 2]));
    t.deepEqual([...(await c.state.get('default', `${k}-b`)).data], [0, 1, 2]);

    const next = await c.state.save('default', k, { n: 2 }, { etag });
    t.not(next, etag);
    const stale = await codeOf(t, c.state.save('default', k, { n: 3 }, { etag }));
    t.is(stale.code, 'HEARTH_ERR_ETAG_MISMATCH');

    const bulk = await c.state.getBulk('default', [k, `${k}-t`, `${k}-missing`]);
    t.deepEqual(bulk.map((e) => [e.key, e.found]), [[k, true], [`${k}-t`, true], [`${k}-missing`, false]]);
    t.deepEqual(bulk[0]?.json(), { n: 2 });

    t.true(await c.state.delete('default', k));
    t.false((await c.state.get('default', k)).found);
  });

  test(`${kind}: a state transaction applies upserts and deletes together`, async (t) => {
    const c = client(kind);
    const k = unique('tx', kind);
    await c.state.save('default', `${k}-old`, 'old');
    const etags = await c.state.transact('default', [
      { op: 'upsert', key: `${k}-a`, value: { a: 1 } },
      { op: 'delete', key: `${k}-old` },
    ]);
    t.true(etags.length >= 1);
    t.deepEqual((await c.state.get('default', `${k}-a`)).json(), { a: 1 });
    t.false((await c.state.get('default', `${k}-old`)).found);
  });

  test(`${kind}: an unknown store and a wrong token are refused with their codes`, async (t) => {
    const c = client(kind);
    const store = await codeOf(t, c.state.get('no-such-store', 'k'));
    t.is(store.code, 'HEARTH_ERR_STORE_NOT_FOUND');
    t.true(store.sent);
    const bad = client(kind, 'demo', 'wrong-token');
    const auth = await codeOf(t, bad.state.get('default', 'k'));
    t.is(auth.code, 'HEARTH_ERR_UNAUTHENTICATED');
  });

  test(`${kind}: publish and subscribe deliver messages; ack ends them, nack redelivers`, async (t) => {
    const c = client(kind);
    const topic = unique('topic', kind);
    const sub = c.pubsub.subscribe('default', topic, { ackDeadlineMs: 30_000 });
    await sub.ready;
    const id = await c.pubsub.publish('default', topic, { order: 7 }, { raw: true });
    t.truthy(id);
    const seen: Array<{ attempt: number; body: unknown }> = [];
    for await (const m of sub) {
      seen.push({ attempt: m.attempt, body: m.json() });
      if (m.attempt === 1) m.nack();
      else {
        m.ack();
        break;
      }
    }
    sub.close();
    t.deepEqual(seen, [
      { attempt: 1, body: { order: 7 } },
      { attempt: 2, body: { order: 7 } },
    ]);
  });

  test(`${kind}: configuration reads items and a watch reports a change of the file`, async (t) => {
    const c = client(kind);
    const items = await c.configuration.get(CONFIG_STORE, ['greeting']);
    t.is(items.greeting?.value, 'hello');
    const watch = c.configuration.subscribe(CONFIG_STORE, ['live']);
    const value = unique('v', kind);
    const changed = (async () => {
      for await (const change of watch) {
        if (change.items.live?.value === value) return change.items.live.value;
      }
      return undefined;
    })();
    // The watch may open after the first rewrite: keep rewriting until it reports the value.
    let writeError: Error | undefined;
    const writer = setInterval(() => void writeItems(`greeting: hello\nlive: ${value}\n`).catch((err: Error) => (writeError ??= err)), 300);
    try {
      t.is(await changed, value);
    } finally {
      clearInterval(writer);
      watch.close();
    }
    if (writeError !== undefined) throw writeError;
  });

  test(`${kind}: locks exclude other owners, keep alive and unlock; the sequencer counts up as bigint`, async (t) => {
    const c = client(kind);
    const res = unique('res', kind);
    t.true(await c.lock.tryLock('default', res, 'owner-1', 30));
    t.false(await c.lock.tryLock('default', res, 'owner-2', 30));
    t.true(await c.lock.keepAlive('default', res, 'owner-1', 30));
    t.is(await c.lock.unlock('default', res, 'owner-2'), 'LOCK_BELONGS_TO_OTHERS');
    t.is(await c.lock.unlock('default', res, 'owner-1'), 'SUCCESS');
    t.true(await c.lock.tryLock('default', res, 'owner-2', 30));
    const seq = unique('seq', kind);
    const a = await c.sequencer.next('default', seq);
    const b = await c.sequencer.next('default', seq);
    t.is(typeof a, 'bigint');
    t.true(b > a);
  });

  test(`${kind}: serve() answers invoke() from another app, with replies, metadata and app errors`, async (t) => {
    const callee = client(kind, `callee-${kind}`);
    const caller = client(kind, 'other');
    const handle = callee.serve({
      echo: (req) => reply({ got: req.json<unknown>(), caller: req.callerAppId, meta: req.metadata.m ?? '' }, { metadata: { answered: 'yes' } }),
      text: (req) => `hi ${req.text()}`,
      fail: () => {
        throw Object.assign(new Error('nope'), { code: 'E_NOPE' });
      },
    });
    await handle.ready;
    t.truthy(handle.instanceId);
    const r = await caller.invoke(`callee-${kind}`, 'echo', { x: 1 }, { metadata: { m: 'v' }, timeoutMs: 10_000 });
    t.deepEqual(r.json(), { got: { x: 1 }, caller: 'other', meta: 'v' });
    t.is(r.metadata.answered, 'yes');
    t.is((await caller.invoke(`callee-${kind}`, 'text', 'you', { idempotent: true })).text(), 'hi you');
    const failed = await codeOf(t, caller.invoke(`callee-${kind}`, 'fail', ''));
    t.is(failed.code, 'HEARTH_ERR_APP_ERROR');
    t.is(failed.details.appCode, 'E_NOPE');
    const missing = await codeOf(t, caller.invoke(`callee-${kind}`, 'no-such-method', ''));
    t.is(missing.code, 'HEARTH_ERR_APP_ERROR');
    t.is(missing.details.appCode, 'NOT_FOUND');
    await handle.close();
    await handle.closed;
  });
}

test('createClient reads HEARTH_APP_ID, HEARTH_TOKEN and HEARTH_RUN_DIR, and refuses to start without an app id or token', async (t) => {
  const c = createClient({ env: { HEARTH_APP_ID: 'demo', HEARTH_TOKEN: 'demo-token', HEARTH_RUN_DIR: h.runDir } });
  clients.push(c);
  t.is(c.appId, 'demo');
  t.is(c.failover, undefined, 'no siblings, no failover transport');
  t.false((await c.state.get('default', 'never-written')).found);
  const noApp = t.throws(() => createClient({ env: { HEARTH_TOKEN: 'x' } }));
  t.is((noApp as HearthClientError).code, 'HEARTH_ERR_INVALID_ARGUMENT');
  const noToken = t.throws(() => createClient({ env: { HEARTH_APP_ID: 'demo' } }));
  t.is((noToken as HearthClientError).code, 'HEARTH_ERR_INVALID_ARGUMENT');
});

for (const kind of TRANSPORTS) {
  test(`${kind}: a client whose agent socket is missing fails calls with AGENT_UNAVAILABLE, sent false`, async (t) => {
    const c = createClient({ appId: 'ghost', token: 't', runDir: h.runDir, transport: kind, env: {} });
    clients.push(c);
    const err = await codeOf(t, c.state.get('default', 'k'));
    t.is(err.code, 'HEARTH_ERR_AGENT_UNAVAILABLE');
    t.false(err.sent);
  });

  test(`${kind}: an invoke whose handler outlives timeoutMs fails with TIMEOUT and the handler's signal aborts`, async (t) => {
    const callee = client(kind, `slow-${kind}`);
    const caller = client(kind, 'other');
    const started: string[] = [];
    const aborted: string[] = [];
    const handle = callee.serve({
      slow: (req) =>
        new Promise<string>((resolve) => {
          started.push(req.text());
          req.signal.addEventListener('abort', () => {
            aborted.push(req.text());
            resolve('too late');
          });
        }),
    });
    await handle.ready;
    const id = `${kind}-${Math.random()}`;
    const err = await codeOf(t, caller.invoke(`slow-${kind}`, 'slow', id, { timeoutMs: 1_000 }));
    t.is(err.code, 'HEARTH_ERR_TIMEOUT');
    t.deepEqual(started, [id], 'the call reached the handler before its deadline');
    await waitFor('the handler signal to abort', () => Promise.resolve(aborted.includes(id) ? true : undefined), { timeoutMs: 10_000, everyMs: 20 });
    await handle.close();
  });
}

test('close() ends an open subscription: its iteration finishes', async (t) => {
  const c = createClient({ appId: 'demo', token: 'demo-token', runDir: h.runDir, env: {} });
  const sub = c.pubsub.subscribe('default', unique('closing', 'wire'));
  await sub.ready;
  const drained = (async () => {
    let n = 0;
    for await (const _ of sub) n += 1;
    return n;
  })();
  await c.close();
  t.is(await drained, 0);
});

let written = 0;

/** Atomically (write, then rename); each write its own temp file, as both transports' tests rewrite it at once. */
async function writeItems(text: string): Promise<void> {
  written += 1;
  const tmp = `${itemsFile}.${process.pid}.${written}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, itemsFile);
}
