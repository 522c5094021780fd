// Forked by cluster.test.ts: a Node cluster primary (SCHED_NONE, as the ops-agent runs) with two
// workers, each running the real HttpAppServer for app `demo` on the same http.sock. Eight
// keep-alive clients call in parallel while worker 1 close()s; prints one JSON line with what
// happened.
import cluster from 'node:cluster';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppRegistry } from '../../agent/apps/app-registry.js';
import { createRuntimeApi } from '../../agent/building-blocks/create-runtime-api.js';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { ComponentSet } from '../../agent/components/component-set.js';
import { registerEmbeddedComponents } from '../../agent/components/setup.js';
import { parseConfig } from '../../agent/config/load-config.js';
import { createLogger } from '../../agent/observability/logger.js';
import { AgentMetrics } from '../../agent/observability/metrics.js';
import { HttpAppServer } from '../../agent/transports/http/http-app-server.js';
import { HttpClient } from '../helpers/http-client.js';

const TOKEN = 'demo-token-0123456789';
cluster.schedulingPolicy = cluster.SCHED_NONE;
const dir = process.env.HX_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'hxh-'));
process.env.HX_DIR = dir; // inherited by the workers
const config = await parseConfig(
  `version: 1\nrunDir: ${dir}/run\nstateDir: ${dir}/state\napps:\n  - id: demo\n    token: ${TOKEN}\ncomponents:\n  - { name: statestore, type: state.sqlite }\n`,
  path.join(dir, 'hearth.yaml'),
);
const app = config.apps[0]!;

if (cluster.isPrimary) await primary();
else await worker();

async function worker(): Promise<void> {
  const logger = createLogger({ level: 'warn' });
  const registry = new ComponentRegistry();
  registerEmbeddedComponents(registry);
  const components = await ComponentSet.start(config.components, registry, { stateDir: config.stateDir, configDir: dir, limits: config.limits, logger });
  const api = createRuntimeApi({ components, config, version: 'x', generation: cluster.worker?.id ?? 0 });
  const server = new HttpAppServer({ app, apps: new AppRegistry(config.apps), api, metrics: new AgentMetrics(), logger, limits: config.limits });
  await server.start();
  process.send?.({ ready: true, mode: statSync(app.httpSocket).mode & 0o777 });
  process.on('message', (m) => {
    if (m !== 'close') return;
    void server
      .close(3000)
      .then(() => components.close())
      .then(() => process.send?.({ closed: true, connections: server.connections() }));
  });
}

interface WorkerMessage {
  ready?: boolean;
  mode?: number;
  closed?: boolean;
  connections?: number;
}

async function primary(): Promise<void> {
  mkdirSync(app.socketDir, { recursive: true });
  const workers = [cluster.fork(), cluster.fork()];
  const modes: number[] = [];
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) =>
          w.on('message', (m: WorkerMessage) => {
            if (m.ready) {
              modes.push(m.mode ?? 0);
              resolve();
            }
          }),
        ),
    ),
  );
  // A keep-alive agent each. Which worker accepts a connection is up to the kernel: add clients
  // (at least 8) until both workers hold some.
  const clients: HttpClient[] = [];
  const seen = new Set<string>();
  while ((clients.length < 8 || seen.size < 2) && clients.length < 64) {
    const c = new HttpClient(app.httpSocket, { token: TOKEN, keepAlive: true });
    seen.add((await c.get('/v1.0/metadata')).json<{ extended: { generation: string } }>().extended.generation);
    clients.push(c);
  }
  const servedBy: Record<string, number> = {};
  const failures: string[] = [];
  const closeHeaders: Record<string, number> = {};
  let closed = false;
  let closedConnections = -1;
  workers[0]!.on('message', (m: WorkerMessage) => {
    if (m.closed) {
      closed = true;
      closedConnections = m.connections ?? -1;
    }
  });
  let calls = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (!closed || calls < 2000) {
        if (calls === 400) workers[0]!.send('close'); // mid-traffic
        calls++;
        try {
          const res = await c.get('/v1.0/metadata');
          if (res.status !== 200) {
            failures.push(`${res.status} ${res.text()}`);
            continue;
          }
          const gen = res.json<{ extended: { generation: string } }>().extended.generation;
          servedBy[gen] = (servedBy[gen] ?? 0) + 1;
          if (res.headers.connection === 'close') closeHeaders[gen] = (closeHeaders[gen] ?? 0) + 1;
        } catch (err) {
          failures.push(String(err));
        }
      }
    }),
  );
  const after: Record<string, number> = {};
  for (let i = 0; i < 10; i++) {
    const c = new HttpClient(app.httpSocket, { token: TOKEN, keepAlive: false });
    const gen = (await c.get('/v1.0/metadata')).json<{ extended: { generation: string } }>().extended.generation;
    after[gen] = (after[gen] ?? 0) + 1;
    c.close();
  }
  const socketAfterClose = existsSync(app.httpSocket);
  clients.forEach((c) => c.close());
  for (const w of workers) w.kill();
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ modes, servedBy, failures, closedConnections, closeHeaders, after, socketAfterClose }));
  process.exit(0);
}
