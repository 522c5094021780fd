// Failover with real agents: two `hearth start` processes on one machine ("host 1" and "host 2",
// own run and state dirs, loopback TLS sibling ports, each other's siblings). App `caller` on
// host 1 talks to its agent over wire.sock through the SDK's FailoverTransport, with host 2's
// sibling port as its sibling; app `callee` answers invocations on both hosts. Host 1 is then
// killed (-9, whole process group), stopped (SIGSTOP: a hung agent), and reloaded (a drain with a
// successor), and the tests check where calls go and what the app sees.
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { parse as parseYaml } from 'yaml';
import { createFailoverTransport, type FailoverEvent, type FailoverTransport, isHearthClientError, type SdkLogger, type SdkStream, type SdkTransport, siblingConnector, type SiblingTls, WireTransport } from '@hearth/sdk';
import { runHearthCli, type HearthProcess } from '../support/hearth-process.js';
import { freePort } from '../support/free-port.js';
import type { TlsFiles } from '../support/tls-certs.js';
import { CALLEE_TOKEN, CALLER_TOKEN, startTwoHosts, type TwoHosts } from '../helpers/two-hosts.js';
import { sleep, waitFor } from '../support/wait.js';

const INVOKE = 'hearth.runtime.v1.Invoke/InvokeService';
const SAVE = 'hearth.runtime.v1.State/SaveState';
const GET = 'hearth.runtime.v1.State/GetState';

// ---- fixtures -------------------------------------------------------------------------------

/** The sibling port a host listens on, from its configuration file (two-hosts.ts picks them). */
async function siblingPort(host: HearthProcess): Promise<number> {
  const config = parseYaml(await readFile(host.configPath, 'utf8')) as { siblings: { listen: { port: number } } };
  return config.siblings.listen.port;
}

/**
 * The callee app on one host: answers `greet` at once and `slow` after 400 ms, naming its host.
 * Like the SDK's serve(), it opens its callback stream again whenever it ends (agent restarted
 * or drained).
 */
function serveCallee(host: HearthProcess, hostName: string): { ready: Promise<void>; stop: () => Promise<void> } {
  const transport = new WireTransport({ endpoint: { path: path.join(host.runDir, 'apps', 'callee', 'wire.sock') }, token: CALLEE_TOKEN });
  let registered!: () => void;
  const ready = new Promise<void>((resolve) => (registered = resolve));
  let stopped = false;
  let current: SdkStream | undefined;
  const serveOnce = async (): Promise<void> => {
    const stream = transport.stream('hearth.runtime.v1.AppCallback/Connect', { register: { methods: ['greet', 'slow'] } }, {});
    current = stream;
    for await (const raw of stream) {
      const msg = raw as { registered?: object | null; invocation?: { id: string; method: string } | null };
      if (msg.registered) registered();
      const inv = msg.invocation;
      if (!inv) continue;
      const answer = (): void => stream.send({ result: { id: inv.id, data: Buffer.from(`${inv.method} from ${hostName}`) } });
      if (inv.method === 'slow') setTimeout(answer, 400);
      else answer();
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await serveOnce().catch(() => undefined);
      if (!stopped) await sleep(100);
    }
  })();
  return {
    ready,
    stop: async () => {
      stopped = true;
      current?.cancel();
      await loop;
      await transport.close();
    },
  };
}

interface World {
  hosts: TwoHosts;
  host1: HearthProcess;
  port2: number;
  callees: Array<{ stop: () => Promise<void> }>;
}

async function startWorld(): Promise<World> {
  // Two workers per host, as deployed: kill -9 of the process group takes all three processes.
  const hosts = await startTwoHosts({ workers: 2 });
  const callees = [serveCallee(hosts.host1, 'host-1'), serveCallee(hosts.host2, 'host-2')];
  await Promise.all(callees.map((c) => c.ready));
  return { hosts, host1: hosts.host1, port2: await siblingPort(hosts.host2), callees };
}

async function stopWorld(w: World | undefined): Promise<void> {
  if (!w) return;
  await Promise.all(w.callees.map((c) => c.stop().catch(() => undefined)));
  await w.hosts.close();
}

async function tlsOf(certs: TlsFiles): Promise<SiblingTls> {
  return { ca: await readFile(certs.caFile, 'utf8') };
}

/** App `caller` on host 1, host 2 as its sibling. */
async function callerClient(w: World, siblings: Array<{ host: string; port: number; name: string }>, logger?: SdkLogger): Promise<FailoverTransport> {
  const wireSock = path.join(w.host1.runDir, 'apps', 'caller', 'wire.sock');
  return createFailoverTransport({
    ...(logger ? { logger } : {}),
    local: () => new WireTransport({ endpoint: { path: wireSock }, token: CALLER_TOKEN, caller: 'caller' }),
    siblings,
    connectSibling: siblingConnector({ appId: 'caller', token: CALLER_TOKEN, tls: await tlsOf(w.hosts.tls) }),
  });
}

// ---- steady load ----------------------------------------------------------------------------

interface Outcome {
  /** once: neither idempotent nor deadline-bounded; bounded: not idempotent, with a deadline. */
  readonly kind: 'idempotent' | 'once' | 'bounded';
  readonly ok: boolean;
  readonly code?: string;
  readonly answer?: string;
}

/**
 * Idempotent calls (state save + get, invoke `greet` marked idempotent), and non-idempotent `slow`
 * invokes (400 ms at the callee), half of them without a deadline, half with one.
 */
class Load {
  readonly outcomes: Outcome[] = [];
  readonly #client: SdkTransport;
  readonly #running: Array<Promise<void>> = [];
  #stopped = false;

  constructor(client: SdkTransport) {
    this.#client = client;
  }

  start(): void {
    for (let worker = 0; worker < 3; worker += 1) this.#running.push(this.#idempotentLoop(worker));
    this.#running.push(this.#onceLoop());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
  }

  failures(kind: Outcome['kind']): Outcome[] {
    return this.outcomes.filter((o) => o.kind === kind && !o.ok);
  }

  async #idempotentLoop(worker: number): Promise<void> {
    for (let i = 0; !this.#stopped; i += 1) {
      const key = `k-${worker}`;
      await this.#record('idempotent', async () => {
        await this.#client.unary(SAVE, { storeName: 'default', states: [{ key, value: Buffer.from(String(i)) }] }, { idempotent: true });
        await this.#client.unary(GET, { storeName: 'default', key }, { idempotent: true });
        const res = (await this.#client.unary(INVOKE, { appId: 'callee', method: 'greet', data: Buffer.from('hi'), idempotent: true }, { idempotent: true })) as { data: Buffer };
        return res.data.toString();
      });
      await sleep(20);
    }
  }

  async #onceLoop(): Promise<void> {
    const inFlight: Array<Promise<void>> = [];
    while (!this.#stopped) {
      for (const kind of ['once', 'bounded'] as const) {
        inFlight.push(
          this.#record(kind, async () => {
            const options = kind === 'bounded' ? { deadlineMs: 10_000 } : {};
            const res = (await this.#client.unary(INVOKE, { appId: 'callee', method: 'slow', data: Buffer.from('x') }, options)) as { data: Buffer };
            return res.data.toString();
          }),
        );
      }
      await sleep(100);
    }
    await Promise.all(inFlight);
  }

  async #record(kind: Outcome['kind'], call: () => Promise<string>): Promise<void> {
    try {
      this.outcomes.push({ kind, ok: true, answer: await call() });
    } catch (err) {
      this.outcomes.push({ kind, ok: false, code: isHearthClientError(err) ? err.code : String(err) });
    }
  }
}

function nextEvent(client: FailoverTransport, name: 'failover' | 'failback'): Promise<FailoverEvent> {
  return new Promise((resolve) => client.once(name, resolve));
}

// ---- tests ----------------------------------------------------------------------------------

let world: World | undefined;
const clients: FailoverTransport[] = [];
const loads: Load[] = [];

test.before(async () => {
  world = await startWorld();
});

test.after.always(async () => {
  await Promise.all(loads.map((l) => l.stop()));
  await Promise.all(clients.map((c) => c.close()));
  await stopWorld(world);
});

test.serial('kill -9 of host 1 under load: calls fail over to host 2, idempotent and deadline-bounded calls all succeed, in-flight non-idempotent calls without a deadline get CALL_INTERRUPTED, and the client fails back when host 1 returns', async (t) => {
  const w = world as World;
  const client = await callerClient(w, [{ name: 'host-2', host: '127.0.0.1', port: w.port2 }]);
  clients.push(client);
  const load = new Load(client);
  loads.push(load);
  load.start();
  await waitFor('calls answered through host 1', async () => (load.outcomes.filter((o) => o.ok).length >= 20 ? true : undefined)).catch((err: unknown) => {
    t.log(JSON.stringify(load.outcomes.slice(0, 10)));
    throw err;
  });
  t.is(client.stats().state, 'local');

  const failover = nextEvent(client, 'failover');
  const killedAt = Date.now();
  await w.host1.kill9();
  const event = await failover;
  t.log(`failover: ${event.from} → ${event.to} (${event.reason}); detection ${event.detectionMs} ms; kill -9 to switch ${event.at - killedAt} ms`);
  t.is(event.to, 'sibling:host-2');
  t.true(event.from.startsWith('wire:'));
  t.true(event.detectionMs >= 0);
  t.is(client.stats().state, 'sibling');

  const afterFailover = load.outcomes.length;
  await waitFor('calls answered through host 2', async () => (load.outcomes.slice(afterFailover).filter((o) => o.ok).length >= 20 ? true : undefined)).catch((err: unknown) => {
    t.log(JSON.stringify(load.outcomes.slice(afterFailover, afterFailover + 10)));
    throw err;
  });
  const viaHost2 = load.outcomes.slice(afterFailover).filter((o) => o.ok && o.answer === 'greet from host-2');
  t.true(viaHost2.length > 0, 'callee answered on host 2');

  const failback = nextEvent(client, 'failback');
  await w.host1.restart();
  const back = await failback;
  t.log(`failback: ${back.from} → ${back.to} after ${back.detectionMs} ms of healthy pings`);
  t.is(back.from, 'sibling:host-2');
  t.true(back.to.startsWith('wire:'));
  const afterFailback = load.outcomes.length;
  await waitFor('calls answered through host 1 again', async () => (load.outcomes.slice(afterFailback).filter((o) => o.ok).length >= 10 ? true : undefined));
  await load.stop();

  t.deepEqual(load.failures('idempotent'), [], 'no idempotent call failed');
  t.deepEqual(load.failures('bounded'), [], 'no deadline-bounded call failed: those in flight were replayed');
  const onceFailures = load.failures('once');
  t.true(onceFailures.length > 0, 'some non-idempotent calls were in flight when host 1 died');
  t.deepEqual([...new Set(onceFailures.map((o) => o.code))], ['HEARTH_ERR_CALL_INTERRUPTED']);
  t.true(load.outcomes.filter((o) => o.kind === 'once' && o.ok).length > 0, 'the other non-idempotent calls succeeded');

  const stats = client.stats();
  t.is(stats.state, 'local');
  t.is(stats.failovers, 1);
  t.is(stats.failbacks, 1);
  t.is(stats.interrupted, onceFailures.length);
  t.true(stats.replayed > 0);
  t.log(`stats: ${JSON.stringify({ ...stats, lastFailover: undefined, lastFailback: undefined })}`);
});

test.serial('a hung local agent (SIGSTOP) is detected by the heartbeat and calls fail over; they fail back after SIGCONT', async (t) => {
  const w = world as World;
  const client = await callerClient(w, [{ name: 'host-2', host: '127.0.0.1', port: w.port2 }]);
  clients.push(client);
  await client.unary(GET, { storeName: 'default', key: 'k' }, { idempotent: true });
  const failover = nextEvent(client, 'failover');
  process.kill(-w.host1.pid, 'SIGSTOP');
  try {
    const event = await failover;
    t.log(`hung agent: ${event.reason}, detection ${event.detectionMs} ms`);
    t.is(event.reason, 'unresponsive (heartbeat missed)');
    t.is(event.to, 'sibling:host-2');
    // Calls keep working through host 2 while host 1 is stopped.
    await client.unary(GET, { storeName: 'default', key: 'k' }, { idempotent: true });
  } finally {
    process.kill(-w.host1.pid, 'SIGCONT');
  }
  const back = await nextEvent(client, 'failback');
  t.true(back.to.startsWith('wire:'));
  t.is(client.stats().state, 'local');
});

test.serial('a reload of host 1 (drain with a successor generation) keeps calls local: no failover, no failed call', async (t) => {
  const w = world as World;
  const client = await callerClient(w, [{ name: 'host-2', host: '127.0.0.1', port: w.port2 }]);
  clients.push(client);
  const switches: string[] = [];
  client.on('failover', (e) => switches.push(`failover ${e.reason}`));
  const load = new Load(client);
  loads.push(load);
  load.start();
  await waitFor('calls answered', async () => (load.outcomes.filter((o) => o.ok).length >= 10 ? true : undefined));
  const reload = await runHearthCli(['reload', '--config', w.host1.configPath], { timeoutMs: 90_000 });
  t.is(reload.code, 0, reload.stderr);
  const afterReload = load.outcomes.length;
  await waitFor('calls answered after the reload', async () => (load.outcomes.slice(afterReload).filter((o) => o.ok).length >= 10 ? true : undefined));
  await load.stop();
  t.deepEqual(switches, []);
  t.is(client.stats().failovers, 0);
  t.is(client.stats().state, 'local');
  t.deepEqual(load.failures('idempotent'), []);
  t.deepEqual(load.failures('bounded').filter((o) => o.code === 'HEARTH_ERR_CALL_INTERRUPTED' || o.code === 'HEARTH_ERR_AGENT_UNAVAILABLE'), []);
  // Whatever the drain does to an invocation, failover must not have cut one short.
  const cut = load.failures('once').filter((o) => o.code === 'HEARTH_ERR_CALL_INTERRUPTED' || o.code === 'HEARTH_ERR_AGENT_UNAVAILABLE');
  t.deepEqual(cut, []);
  t.log(`non-idempotent failures: ${JSON.stringify(load.failures('once'))}`);
  t.log(`local reconnects: ${client.stats().localReconnects}`);
});

test.serial('a graceful stop of host 1 (draining without a successor) moves calls to host 2 with no failed idempotent call; they come back after the restart', async (t) => {
  const w = world as World;
  const client = await callerClient(w, [{ name: 'host-2', host: '127.0.0.1', port: w.port2 }]);
  clients.push(client);
  const load = new Load(client);
  loads.push(load);
  load.start();
  await waitFor('calls answered', async () => (load.outcomes.filter((o) => o.ok).length >= 10 ? true : undefined));
  const failover = nextEvent(client, 'failover');
  const failback = nextEvent(client, 'failback');
  // restart(): SIGTERM (drain, no successor), wait for the exit, start again on the same dirs.
  const restarting = w.host1.restart();
  const event = await failover;
  t.log(`graceful stop: ${event.reason}, detection ${event.detectionMs} ms`);
  t.is(event.reason, 'draining without successor');
  t.is(event.to, 'sibling:host-2');
  await restarting;
  const back = await failback;
  t.true(back.to.startsWith('wire:'));
  await load.stop();
  t.deepEqual(load.failures('idempotent'), []);
  t.log(`non-idempotent failures: ${JSON.stringify(load.failures('once'))}`);
});

test.serial('failover takes the best-ranked sibling that answers: a refused and a hung sibling ranked above host 2 are passed over', async (t) => {
  const w = world as World;
  // Accepts TCP and never answers the TLS handshake: a hung sibling.
  const accepted = new Set<net.Socket>();
  const hung = net.createServer((socket) => accepted.add(socket));
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    // Its sockets are never read, so they would not see the client's FIN: close them here.
    for (const socket of accepted) socket.destroy();
    return new Promise<void>((resolve) => hung.close(() => resolve()));
  });
  const hungPort = (hung.address() as net.AddressInfo).port;
  const client = await callerClient(w, [
    { name: 'refused', host: '127.0.0.1', port: await freePort() },
    { name: 'hung', host: '127.0.0.1', port: hungPort },
    { name: 'host-2', host: '127.0.0.1', port: w.port2 },
  ]);
  clients.push(client);
  await client.unary(GET, { storeName: 'default', key: 'k' }, { idempotent: true });
  const failover = nextEvent(client, 'failover');
  await w.host1.kill9();
  const event = await failover;
  t.log(`failover past a refused and a hung sibling: detection ${event.detectionMs} ms (the hung one's probe timeout)`);
  t.is(event.to, 'sibling:host-2');
  // Calls carry on, and host 1 is started again for the next test.
  await client.unary(GET, { storeName: 'default', key: 'k' }, { idempotent: true });
  const failback = nextEvent(client, 'failback');
  await w.host1.restart();
  await failback;
  t.is(client.stats().state, 'local');
});

test.serial('with the local agent dead and no sibling reachable, calls fail with HEARTH_ERR_AGENT_UNAVAILABLE; they flow again when the agent is back', async (t) => {
  const w = world as World;
  const closedPort = await freePort();
  const client = await callerClient(w, [{ name: 'nobody', host: '127.0.0.1', port: closedPort }]);
  clients.push(client);
  await client.unary(GET, { storeName: 'default', key: 'k' }, { idempotent: true });
  const unavailable = new Promise<{ rejected: readonly string[] }>((resolve) => client.once('unavailable', resolve));
  await w.host1.kill9();
  const err = await t.throwsAsync(client.unary(GET, { storeName: 'default', key: 'k' }, { idempotent: true }));
  t.true(isHearthClientError(err));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_AGENT_UNAVAILABLE');
  t.log((err).message);
  t.is((await unavailable).rejected.length, 2);
  t.is(client.stats().state, 'unavailable');

  await w.host1.restart();
  await waitFor('calls flow again', async () => {
    try {
      await client.unary(GET, { storeName: 'default', key: 'k' }, { idempotent: true });
      return true;
    } catch {
      return undefined;
    }
  });
  t.is(client.stats().state, 'local');
});
