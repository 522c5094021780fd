// Callback streams drain instead of closing (hot-upgrade guarantee 2: in-flight requests
// complete). One in-process agent; for each callee app an "old" server on the app's sockets and a
// "new" one on other paths, both over the same invoke block, as two generations of one agent
// would be. The callee's instances are the SDK's own gRPC and wire transports holding
// AppCallback/Connect streams; the caller goes through the invoke API. Every test has its own
// callee app id (the agent balances an app's calls across all of its instances).
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import type { CallContext, InvokeResult } from '../../agent/building-blocks/runtime-api.js';
import type { InvokePolicy } from '../../agent/config/config-schema.js';
import { HearthError } from '../../agent/errors/hearth-error.js';
import { countsAsFailure, isNoInstance } from '../../agent/mesh/governance/error-classes.js';
import { TargetGovernor, type GovernanceEvent, type GovernedEndpoint } from '../../agent/mesh/governance/target-governor.js';
import { GrpcAppServer } from '../../agent/transports/grpc/grpc-app-server.js';
import type { AppServer } from '../../agent/transports/transport-deps.js';
import { WireAppServer } from '../../agent/transports/wire/wire-app-server.js';
import { GrpcTransport, type SdkTransport, WireTransport } from '@hearth/sdk';

import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';

const CONNECT = 'hearth.runtime.v1.AppCallback/Connect';
type Kind = 'grpc' | 'wire';
const CALLEES = ['dg1', 'dw1', 'dg2', 'dw2'] as const;
const tokenOf = (id: string): string => `${id}-token-0123456789`;

let core: InProcess<never>;
const transports: SdkTransport[] = [];

test.before(async () => {
  core = await startInProcess({ transports: [], apps: CALLEES.map((id) => ({ id, token: tokenOf(id) })) });
});

test.after.always(async () => {
  await Promise.allSettled(transports.map((t) => t.close()));
  await core?.close();
});

/** The old generation's server on the app's own sockets, or the new one's on sockets of its own. */
async function server(kind: Kind, appId: string, generation: 'old' | 'new'): Promise<{ server: AppServer; socket: string }> {
  const deps = core.transportDeps(appId);
  let app = deps.app;
  if (generation === 'new') {
    const socketDir = path.join(core.dir, `${appId}-n`);
    await mkdir(socketDir, { recursive: true });
    app = { ...app, socketDir, grpcSocket: path.join(socketDir, 'grpc.sock'), wireSocket: path.join(socketDir, 'wire.sock') };
  }
  const s = kind === 'grpc' ? new GrpcAppServer({ ...deps, app }) : new WireAppServer({ ...deps, app });
  core.defer(() => s.close(1000));
  await s.start();
  return { server: s, socket: kind === 'grpc' ? app.grpcSocket : app.wireSocket };
}

interface Invocation {
  readonly id: string;
  readonly data: Buffer;
}

/** One app instance: an SDK transport holding a callback stream; `auto` answers at once, else the test does. */
class Instance {
  readonly received: Invocation[] = [];
  readonly registered: Promise<string>;
  /** The grace the agent announced with `draining`. */
  readonly draining: Promise<number>;
  /** The code the stream ended with ('' for a clean end). */
  readonly ended: Promise<string>;
  readonly #stream;

  constructor(transport: SdkTransport, name: string, auto: boolean) {
    this.#stream = transport.stream(CONNECT, { register: { methods: [], maxConcurrency: 0 } }, {});
    let onRegistered!: (id: string) => void;
    let onDraining!: (graceMs: number) => void;
    this.registered = new Promise((resolve) => (onRegistered = resolve));
    this.draining = new Promise((resolve) => (onDraining = resolve));
    const read = async (): Promise<void> => {
      for await (const message of this.#stream) {
        const m = message as { registered?: { instanceId: string }; invocation?: Invocation; draining?: { graceMs: number } };
        if (m.registered) onRegistered(m.registered.instanceId);
        if (m.draining) onDraining(m.draining.graceMs);
        if (m.invocation) {
          this.received.push(m.invocation);
          if (auto) this.answer(m.invocation.id, `${name}:${m.invocation.data.toString()}`);
        }
      }
    };
    this.ended = read().then(
      () => '',
      (err: unknown) => String((err as { code?: unknown }).code),
    );
  }

  answer(id: string, text: string): void {
    this.#stream.send({ result: { id, data: Buffer.from(text), contentType: 'text/plain', metadata: {} } });
  }
}

function connect(kind: Kind, socket: string, appId: string, name: string, auto: boolean): Instance {
  const token = tokenOf(appId);
  const transport = kind === 'grpc' ? new GrpcTransport({ socketPath: socket, token }) : new WireTransport({ endpoint: { path: socket }, token });
  transports.push(transport);
  return new Instance(transport, name, auto);
}

/** A call from app `demo`, not idempotent, with a budget far beyond the test's waits. */
function invoke(target: string, text: string): Promise<InvokeResult> {
  const ctx: CallContext = {
    app: core.apps.require('demo'),
    requestId: randomUUID(),
    transport: 'grpc',
    logger: core.logger,
    deadline: Date.now() + 30_000,
  };
  return core.api.invoke.invoke(ctx, { appId: target, method: 'm', data: Buffer.from(text), idempotent: false });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  return 'OK';
}

const untilReceived = (i: Instance, n: number): Promise<true> =>
  waitFor(`the instance to receive ${n} invocation(s)`, () => Promise.resolve(i.received.length >= n ? true : undefined), { timeoutMs: 10_000, everyMs: 5 });

for (const [kind, callee] of [
  ['grpc', 'dg1'],
  ['wire', 'dw1'],
] as const) {
  test(`${kind}: closing the server with an invocation pending: the app is told it drains, its answer reaches the caller, and new calls go to its replacement stream only`, async (t) => {
    const old = await server(kind, callee, 'old');
    const next = await server(kind, callee, 'new');
    const first = connect(kind, old.socket, callee, 'old', false);
    await first.registered;
    const pending = invoke(callee, 'one');
    await untilReceived(first, 1);

    const closing = old.server.close(8_000);
    t.true((await first.draining) > 0);
    const second = connect(kind, next.socket, callee, 'new', true);
    await second.registered;
    // The draining stream takes nothing new: every call now lands on the replacement.
    for (const text of ['two', 'three', 'four']) t.is((await invoke(callee, text)).data.toString(), `new:${text}`);
    t.is(first.received.length, 1);

    // The old stream still carries its answer back; then the agent ends it.
    first.answer(first.received[0]!.id, 'old:one');
    t.is((await pending).data.toString(), 'old:one');
    t.is(await first.ended, 'HEARTH_ERR_DRAINING');
    await closing;
    t.is(second.received.length, 3);
  });
}

for (const [kind, callee] of [
  ['grpc', 'dg2'],
  ['wire', 'dw2'],
] as const) {
  test(`${kind}: an app that never answers is cut at the end of the grace: the pending call fails HEARTH_ERR_APP_UNAVAILABLE and the stream ends HEARTH_ERR_DRAINING`, async (t) => {
    const old = await server(kind, callee, 'old');
    const silent = connect(kind, old.socket, callee, 'silent', false);
    await silent.registered;
    const pending = invoke(callee, 'lost');
    await untilReceived(silent, 1);
    const closing = old.server.close(1_000);
    t.true((await silent.draining) > 0);
    t.is(await codeOf(pending), 'HEARTH_ERR_APP_UNAVAILABLE');
    t.is(await silent.ended, 'HEARTH_ERR_DRAINING');
    await closing;
    // Nothing of the app is left: a new call is refused as not sent.
    t.is(await codeOf(invoke(callee, 'after')), 'HEARTH_ERR_APP_UNAVAILABLE');
  });
}

// ---- governance: an endpoint with no instance is skipped, not blamed ----

function governancePolicy(): InvokePolicy {
  return {
    timeoutMs: 5_000,
    maxAttempts: 3,
    retryBudgetPercent: 10,
    retryBackoffMs: 1,
    hedge: { enabled: false, percentile: 95, minDelayMs: 30, budgetPercent: 10 },
    outlier: { consecutiveFailures: 2, ejectionMs: 60_000, maxEjectedPercent: 100 },
    breaker: { failureRatio: 0.5, minRequests: 2, windowMs: 60_000, openMs: 60_000 },
  };
}

test('APP_UNAVAILABLE with notSent (the endpoint had no instance) is retried elsewhere, even when not idempotent, and never ejects the endpoint or opens the breaker', async (t) => {
  t.true(isNoInstance('HEARTH_ERR_APP_UNAVAILABLE', true));
  t.false(countsAsFailure('HEARTH_ERR_APP_UNAVAILABLE', true));
  t.true(countsAsFailure('HEARTH_ERR_APP_UNAVAILABLE'));
  t.true(countsAsFailure('HEARTH_ERR_AGENT_UNAVAILABLE', true));

  const events: GovernanceEvent[] = [];
  const g = new TargetGovernor('b', governancePolicy(), {
    logger: pino({ level: 'silent' }),
    onEvent: (e) => events.push(e),
    retryFloorPerSecond: 1_000,
  });
  let emptySends = 0;
  const empty: GovernedEndpoint = {
    id: 'worker:1',
    tier: 1,
    send: () => {
      emptySends += 1;
      return Promise.reject(new HearthError('HEARTH_ERR_APP_UNAVAILABLE', 'no instance here', { notSent: true }));
    },
  };
  const holder: GovernedEndpoint = {
    id: 'worker:2',
    tier: 1,
    send: () => Promise.resolve({ data: Buffer.from('ok'), contentType: '', metadata: {} }),
  };
  for (let i = 0; i < 20; i++) {
    const r = await g.execute({ endpoints: () => [empty, holder], idempotent: false, deadline: Date.now() + 5_000, requestId: `r${i}` });
    t.is(r.data.toString(), 'ok');
  }
  t.true(emptySends > 0);
  // Alone, it fails every call as not sent — and still is neither ejected nor breaks the circuit.
  for (let i = 0; i < 6; i++) {
    const code = await codeOf(g.execute({ endpoints: () => [empty], idempotent: false, deadline: Date.now() + 5_000, requestId: `s${i}` }));
    t.is(code, 'HEARTH_ERR_APP_UNAVAILABLE');
  }
  t.deepEqual(
    events.filter((e) => e.type === 'ejected' || e.type === 'breaker-open'),
    [],
  );
});
