// Configuration (file component: edits pushed to subscribers on both transports and both
// workers), locks, the sequencer, metadata, gRPC health and reflection against a real
// `hearth start` with two workers.
import { readFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { ConfigurationItem, GrpcClients } from '../helpers/grpc-client.js';
import { defaultTestConfig, startHearth, type HearthProcess } from '../support/hearth-process.js';
import type { HttpClient, ServerSentEvent } from '../helpers/http-client.js';
import { repoRoot } from '../support/repo-root.js';
import {
  assertGrpcError,
  assertHttpError,
  grpcConnection,
  grpcConnectionPerWorker,
  httpClient,
  httpClientPerWorker,
  servedBy,
  uniq,
} from './e2e-helpers.js';
import { waitFor } from '../support/wait.js';

const C = 'appconfig';
const STATIC = 'greeting: hello\nfeature:\n  value: "on"\n  version: "7"\n  metadata:\n    owner: ops\n';
const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

let h: HearthProcess;
let itemsDir: string;
let itemsFile: string;
let g: GrpcClients;
let c: HttpClient;

test.before(async () => {
  // The configuration file must exist before the agent starts: it lives in a dir of its own.
  itemsDir = await mkdtemp(path.join(os.tmpdir(), 'hxc-'));
  itemsFile = path.join(itemsDir, 'items.yaml');
  await writeFile(itemsFile, `${STATIC}live: v0\n`);
  const components = [
    ...(defaultTestConfig().components as unknown[]),
    { name: C, type: 'configuration.file', metadata: { path: itemsFile, pollIntervalMs: 200 } },
  ];
  h = await startHearth({ config: { logLevel: 'debug', components } });
  g = grpcConnection(h, 'demo');
  c = httpClient(h, 'demo');
});
test.after.always(async () => {
  g?.close();
  c?.close();
  await h?.stop();
  if (itemsDir) await rm(itemsDir, { recursive: true, force: true });
});

/** As an editor saving the file would: a complete new file, atomically. */
async function writeItems(text: string): Promise<void> {
  const tmp = `${itemsFile}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, itemsFile);
}

interface HttpItem {
  value: string;
  version: string;
  metadata: Record<string, string>;
  deleted?: boolean;
}

/** gRPC SubscribeConfiguration messages, in order. */
class ConfigStream {
  readonly stream: grpc.ClientReadableStream<{ id: string; items: Record<string, ConfigurationItem> }>;
  readonly messages: Record<string, ConfigurationItem>[] = [];
  ids = new Set<string>();

  constructor(clients: GrpcClients, keys: string[]) {
    this.stream = clients.configuration.SubscribeConfiguration({ storeName: C, keys });
    this.stream.on('data', (m: { id: string; items: Record<string, ConfigurationItem> }) => {
      this.ids.add(m.id);
      this.messages.push(m.items);
    });
    this.stream.on('error', () => undefined); // the cancel at the end
  }

  /** Waits until some message satisfies `match` (replays of the current state may come first). */
  async until(what: string, match: (items: Record<string, ConfigurationItem>) => boolean): Promise<void> {
    await waitFor(what, async () => (this.messages.some(match) ? true : undefined), { timeoutMs: 30_000, everyMs: 50 });
  }
}

async function sseUntil(events: ServerSentEvent[], next: () => Promise<ServerSentEvent | undefined>, match: (items: Record<string, HttpItem>) => boolean): Promise<void> {
  for (;;) {
    if (events.some((e) => match(e.json<{ items: Record<string, HttpItem> }>().items))) return;
    const e = await next();
    if (!e) throw new Error('the SSE stream ended');
    if (e.event !== 'configuration') throw new Error(`unexpected event ${e.event}: ${e.data}`);
    events.push(e);
  }
}

test('configuration get: the same items on gRPC and HTTP, missing keys absent', async (t) => {
  const res = await c.get(`/v1.0/configuration/${C}?key=greeting&key=feature&key=absent`);
  t.is(res.status, 200);
  const viaHttp = res.json<Record<string, HttpItem>>();
  t.deepEqual(Object.keys(viaHttp).sort(), ['feature', 'greeting']);
  t.deepEqual(viaHttp.feature, { value: 'on', version: '7', metadata: { owner: 'ops' } });
  const viaGrpc = await g.configuration.GetConfiguration({ storeName: C, keys: ['greeting', 'feature', 'absent'] });
  t.deepEqual(Object.keys(viaGrpc.items).sort(), ['feature', 'greeting']);
  for (const k of ['greeting', 'feature']) {
    t.is(viaGrpc.items[k]?.value, viaHttp[k]?.value, k);
    t.is(viaGrpc.items[k]?.version, viaHttp[k]?.version, k);
    t.deepEqual(viaGrpc.items[k]?.metadata, viaHttp[k]?.metadata, k);
  }
  // The alpha1 path is the same operation.
  t.deepEqual((await c.get(`/v1.0-alpha1/configuration/${C}?key=feature`)).json(), { feature: viaHttp.feature });
  assertHttpError(t, await c.get('/v1.0/configuration/nosuch?key=a'), 400, 'HEARTH_ERR_STORE_NOT_FOUND');
  await assertGrpcError(t, g.configuration.GetConfiguration({ storeName: 'nosuch', keys: [] }), grpc.status.INVALID_ARGUMENT, 'HEARTH_ERR_STORE_NOT_FOUND');
});

test('configuration subscribe: a file edit and a removal reach gRPC streams on both workers and an SSE stream', async (t) => {
  const perWorker = await grpcConnectionPerWorker(h, 'demo');
  t.teardown(() => perWorker.forEach((x) => x.close()));
  const streams = [...perWorker.values()].map((conn) => new ConfigStream(conn, ['live']));
  t.teardown(() => streams.forEach((s) => s.stream.cancel()));
  const sse = await c.events(`/v1.0-hearth/configuration/${C}/subscribe?key=live`);
  t.teardown(() => sse.close());
  t.is(sse.status, 200);
  t.regex(String(sse.headers['content-type']), /^text\/event-stream/);
  const events: ServerSentEvent[] = [];

  // The current items first.
  for (const s of streams) await s.until('the initial items', (items) => items.live?.value === 'v0');
  await sseUntil(events, () => sse.next(), (items) => items.live?.value === 'v0');

  await writeItems(`${STATIC}live: v1\n`);
  for (const s of streams) await s.until('the edit', (items) => items.live?.value === 'v1' && !items.live.deleted);
  await sseUntil(events, () => sse.next(), (items) => items.live?.value === 'v1');

  await writeItems(STATIC);
  for (const s of streams) await s.until('the removal', (items) => items.live?.deleted === true);
  await sseUntil(events, () => sse.next(), (items) => items.live?.deleted === true);
  for (const s of streams) t.is(s.ids.size, 1, 'one subscription id per stream');

  // Gets agree with what the streams said, on both transports.
  t.false('live' in (await c.get(`/v1.0/configuration/${C}`)).json<Record<string, HttpItem>>());
  t.false('live' in (await g.configuration.GetConfiguration({ storeName: C, keys: [] })).items);

  await writeItems(`${STATIC}live: v2\n`);
  for (const s of streams) await s.until('the key back', (items) => items.live?.value === 'v2');
  t.is((await g.configuration.GetConfiguration({ storeName: C, keys: ['live'] })).items.live?.value, 'v2');
});

test('lock on gRPC and HTTP: one owner at a time, only the owner unlocks or keeps alive', async (t) => {
  const resourceId = uniq('res');
  const L = 'default';
  const tryG = (owner: string): Promise<{ success: boolean }> => g.lock.TryLock({ storeName: L, resourceId, lockOwner: owner, expiryInSeconds: 60 });
  const tryH = async (owner: string): Promise<boolean> =>
    (await c.post(`/v1.0-alpha1/lock/${L}`, { resourceId, lockOwner: owner, expiryInSeconds: 60 })).json<{ success: boolean }>().success;

  t.true((await tryG('alice')).success);
  t.false(await tryH('bob'), 'HTTP sees the gRPC lock');
  t.false((await tryG('bob')).success);
  t.true(await tryH('alice'), 'the owner taking it again renews it');

  t.false((await g.lock.KeepAlive({ storeName: L, resourceId, lockOwner: 'bob', expiryInSeconds: 60 })).success);
  t.deepEqual((await c.post(`/v1.0-hearth/lock/${L}/keepalive`, { resourceId, lockOwner: 'bob', expiryInSeconds: 60 })).json(), { success: false });
  t.true((await g.lock.KeepAlive({ storeName: L, resourceId, lockOwner: 'alice', expiryInSeconds: 60 })).success);
  t.deepEqual((await c.post(`/v1.0-hearth/lock/${L}/keepalive`, { resourceId, lockOwner: 'alice', expiryInSeconds: 60 })).json(), { success: true });

  t.is((await g.lock.Unlock({ storeName: L, resourceId, lockOwner: 'bob' })).status, 'LOCK_BELONGS_TO_OTHERS');
  t.deepEqual((await c.post(`/v1.0-alpha1/unlock/${L}`, { resourceId, lockOwner: 'bob' })).json(), { status: 2 });
  t.deepEqual((await c.post(`/v1.0-alpha1/unlock/${L}`, { resourceId, lockOwner: 'alice' })).json(), { status: 0 });
  t.is((await g.lock.Unlock({ storeName: L, resourceId, lockOwner: 'alice' })).status, 'LOCK_DOES_NOT_EXIST');
  t.deepEqual((await c.post(`/v1.0-alpha1/unlock/${L}`, { resourceId, lockOwner: 'alice' })).json(), { status: 1 });
  t.true(await tryH('bob'));
  t.is((await g.lock.Unlock({ storeName: L, resourceId, lockOwner: 'bob' })).status, 'SUCCESS');

  assertHttpError(t, await c.post(`/v1.0-alpha1/lock/${L}`, { resourceId, lockOwner: 'x', expiryInSeconds: 0 }), 400, 'HEARTH_ERR_INVALID_ARGUMENT');
  await assertGrpcError(t, g.lock.TryLock({ storeName: L, resourceId, lockOwner: 'x', expiryInSeconds: 0 }), grpc.status.INVALID_ARGUMENT, 'HEARTH_ERR_INVALID_ARGUMENT');
  await assertGrpcError(t, g.lock.TryLock({ storeName: L, resourceId, lockOwner: '', expiryInSeconds: 5 }), grpc.status.INVALID_ARGUMENT, 'HEARTH_ERR_INVALID_ARGUMENT');
  assertHttpError(t, await c.post('/v1.0-alpha1/lock/nosuch', { resourceId, lockOwner: 'x', expiryInSeconds: 5 }), 400, 'HEARTH_ERR_STORE_NOT_FOUND');
});

test('lock lease expiry on both transports: another owner gets it, the old owner cannot keep it alive', async (t) => {
  for (const transport of ['grpc', 'http'] as const) {
    const resourceId = uniq(`exp-${transport}`);
    const body = (owner: string, expiryInSeconds = 1): Record<string, unknown> => ({ storeName: 'default', resourceId, lockOwner: owner, expiryInSeconds });
    const lock = async (owner: string, expiry?: number): Promise<boolean> =>
      transport === 'grpc'
        ? (await g.lock.TryLock(body(owner, expiry))).success
        : (await c.post('/v1.0-alpha1/lock/default', body(owner, expiry))).json<{ success: boolean }>().success;
    const keepAlive = async (owner: string): Promise<boolean> =>
      transport === 'grpc'
        ? (await g.lock.KeepAlive(body(owner, 30))).success
        : (await c.post('/v1.0-hearth/lock/default/keepalive', body(owner, 30))).json<{ success: boolean }>().success;

    t.true(await lock('alice', 1), transport);
    await waitFor(`${transport}: the lease to expire`, async () => ((await lock('bob', 30)) ? true : undefined));
    t.false(await keepAlive('alice'), `${transport}: the expired owner`);
    t.true(await keepAlive('bob'), `${transport}: the new owner`);
  }
});

test('lock across workers: clients on both workers race for one resource, exactly one wins each round', async (t) => {
  const grpcPer = await grpcConnectionPerWorker(h, 'demo');
  const httpPer = await httpClientPerWorker(h, 'demo');
  t.teardown(() => {
    grpcPer.forEach((x) => x.close());
    httpPer.forEach((x) => x.close());
  });
  const resourceId = uniq('race');
  const contenders: { owner: string; lock: () => Promise<boolean>; unlock: () => Promise<void> }[] = [];
  for (const [pid, conn] of grpcPer) {
    const owner = `grpc-${pid}`;
    contenders.push({
      owner,
      lock: async () => (await conn.lock.TryLock({ storeName: 'default', resourceId, lockOwner: owner, expiryInSeconds: 60 })).success,
      unlock: async () => {
        const r = await conn.lock.Unlock({ storeName: 'default', resourceId, lockOwner: owner });
        if (r.status !== 'SUCCESS') throw new Error(`${owner} unlock: ${r.status}`);
      },
    });
  }
  for (const [pid, client] of httpPer) {
    const owner = `http-${pid}`;
    contenders.push({
      owner,
      lock: async () => (await client.post('/v1.0-alpha1/lock/default', { resourceId, lockOwner: owner, expiryInSeconds: 60 })).json<{ success: boolean }>().success,
      unlock: async () => {
        const r = await client.post('/v1.0-alpha1/unlock/default', { resourceId, lockOwner: owner });
        if (r.json<{ status: number }>().status !== 0) throw new Error(`${owner} unlock: ${r.text()}`);
      },
    });
  }
  const wins = new Map<string, number>();
  for (let round = 0; round < 15; round++) {
    const results = await Promise.all(contenders.map((x) => x.lock()));
    const winners = contenders.filter((_, i) => results[i]);
    t.is(winners.length, 1, `round ${round}: ${winners.map((w) => w.owner).join(', ')}`);
    for (const w of winners) {
      wins.set(w.owner, (wins.get(w.owner) ?? 0) + 1);
      await w.unlock();
    }
  }
  t.log(`wins: ${[...wins].map(([o, n]) => `${o}=${n}`).join(' ')}`);
});

test('sequencer: strictly increasing across transports and new connections on both workers, no duplicates', async (t) => {
  const key = uniq('seq');
  const pids = (await h.status()).workers.map((w) => w.pid);
  const served = new Set<number>();
  const ids: bigint[] = [];
  for (let i = 0; i < 60 && (i < 20 || served.size < pids.length); i++) {
    if (i % 2 === 0) {
      const conn = grpcConnection(h, 'demo');
      const md = conn.authMetadata();
      const rid = uniq('seq-call');
      md.set('x-request-id', rid);
      try {
        const { nextId } = await conn.sequencer.GetNextId({ storeName: 'default', key }, md);
        ids.push(BigInt(nextId));
      } finally {
        conn.close();
      }
      served.add(await servedBy(h, rid));
    } else {
      const once = httpClient(h, 'demo', { keepAlive: false });
      try {
        const res = await once.post(`/v1.0-hearth/sequencer/default/${key}`);
        t.is(res.status, 200);
        const { nextId } = res.json<{ nextId: string }>();
        t.regex(nextId, /^\d+$/);
        ids.push(BigInt(nextId));
      } finally {
        once.close();
      }
    }
  }
  t.deepEqual([...served].sort(), [...pids].sort(), 'gRPC calls were served by both workers');
  t.is(ids[0], 1n, 'a new key starts at 1');
  for (let i = 1; i < ids.length; i++) t.true(ids[i]! > ids[i - 1]!, `id ${i}: ${ids[i]} after ${ids[i - 1]}`);

  // In parallel, from connections on both workers and both transports: all distinct, all later.
  const grpcPer = await grpcConnectionPerWorker(h, 'demo');
  const httpPer = await httpClientPerWorker(h, 'demo');
  t.teardown(() => {
    grpcPer.forEach((x) => x.close());
    httpPer.forEach((x) => x.close());
  });
  const calls: Promise<bigint>[] = [];
  for (let round = 0; round < 10; round++) {
    for (const conn of grpcPer.values()) calls.push(conn.sequencer.GetNextId({ storeName: 'default', key }).then((r) => BigInt(r.nextId)));
    for (const client of httpPer.values()) calls.push(client.post(`/v1.0-hearth/sequencer/default/${key}`).then((r) => BigInt(r.json<{ nextId: string }>().nextId)));
  }
  const parallel = await Promise.all(calls);
  t.is(new Set(parallel).size, parallel.length, 'no duplicates');
  const last = ids.at(-1) ?? 0n;
  t.true(parallel.every((id) => id > last));
  await assertGrpcError(t, g.sequencer.GetNextId({ storeName: 'nosuch', key }), grpc.status.INVALID_ARGUMENT, 'HEARTH_ERR_STORE_NOT_FOUND');
});

test('metadata: the same app, version and components on gRPC and HTTP', async (t) => {
  const res = await c.get('/v1.0/metadata');
  t.is(res.status, 200);
  const m = res.json<{
    id: string;
    runtimeVersion: string;
    components: { name: string; type: string; version: string; capabilities: string[] }[];
    extended: Record<string, string>;
    allowedTopics: string[];
  }>();
  const gm = await g.metadata.GetMetadata({});
  t.is(m.id, 'demo');
  t.is(gm.appId, 'demo');
  t.is(m.runtimeVersion, version);
  t.is(gm.runtimeVersion, version);
  t.is(gm.generation, 1);
  t.is(m.extended.generation, '1');
  const pairs = (cs: { name: string; type: string }[]): string[] => cs.map((x) => `${x.type}/${x.name}`).sort();
  t.deepEqual(pairs(m.components), ['configuration.file/appconfig', 'lock.sqlite/default', 'pubsub.sqlite/default', 'sequencer.sqlite/default', 'state.sqlite/default']);
  t.deepEqual(pairs(gm.components), pairs(m.components));
  t.true(m.components.find((x) => x.type === 'state.sqlite')?.capabilities.includes('ETAG'));
  t.deepEqual(gm.allowedTopics, m.allowedTopics);
  const other = httpClient(h, 'other');
  t.teardown(() => other.close());
  t.is((await other.get('/v1.0/metadata')).json<{ id: string }>().id, 'other');
});

test('gRPC health (no token) and server reflection; HTTP healthz', async (t) => {
  const anonymous = grpcConnection(h, 'demo', null);
  t.teardown(() => anonymous.close());
  t.is((await anonymous.health.Check({ service: '' })).status, 'SERVING');
  for (const s of ['State', 'PubSub', 'Configuration', 'Lock', 'Sequencer', 'Metadata']) {
    t.is((await anonymous.health.Check({ service: `hearth.runtime.v1.${s}` })).status, 'SERVING', s);
  }
  const listed = await anonymous.reflect({ listServices: '*' });
  const names = ((listed.listServicesResponse as { service: { name: string }[] } | undefined)?.service ?? []).map((s) => s.name);
  for (const s of ['State', 'PubSub', 'Configuration', 'Lock', 'Sequencer', 'Metadata']) t.true(names.includes(`hearth.runtime.v1.${s}`), s);
  t.true(names.includes('grpc.health.v1.Health'));
  const file = await anonymous.reflect({ fileContainingSymbol: 'hearth.runtime.v1.PubSub' });
  t.is(file.messageResponse, 'fileDescriptorResponse');
  t.is((await c.get('/v1.0/healthz', { token: null })).status, 204);
  // The API itself still needs the token.
  await assertGrpcError(t, anonymous.metadata.GetMetadata({}), grpc.status.UNAUTHENTICATED, 'HEARTH_ERR_UNAUTHENTICATED');
});
