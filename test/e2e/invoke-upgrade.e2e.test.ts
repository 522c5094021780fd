// Hot-upgrade guarantee 2 for service invocation, on a real `hearth start` (two workers): app B
// serves with the SDK's serve() (over wire and over gRPC, a handler of ~30 ms), app A invokes B
// NOT idempotently at a steady rate over wire and gRPC while the agent is reloaded twice
// (`hearth reload`: a new generation starts, the old one drains). B's callback streams on the old
// workers are told to drain, B opens replacements on the new generation and still answers what
// the old streams delivered — so no call fails, and B is served by the new workers afterwards.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { createClient, type HearthClient, type ServeHandle } from '@hearth/sdk';
import { runHearthCli, startHearth, type HearthProcess } from '../support/hearth-process.js';
import { workerPids } from './e2e-helpers.js';
import { sleep, waitFor } from '../support/wait.js';

const A = { id: 'upa', token: 'upa-token-0123456789', allow: { apps: ['upb'] } } as const;
const B = { id: 'upb', token: 'upb-token-0123456789', allow: { callers: ['upa'] } } as const;
/** One call per transport every this many ms while the load runs. */
const EVERY_MS = 25;
/** The load stops by itself after this long even if a reload hangs. */
const LOAD_MAX_MS = 120_000;

let h: HearthProcess | undefined;
const clients: HearthClient[] = [];
const served: ServeHandle[] = [];

test.before(async () => {
  h = await startHearth({
    config: {
      apps: [
        { id: 'demo', token: 'demo-token' },
        { id: 'other', token: 'other-token' },
        A,
        B,
      ],
    },
  });
});

test.after.always(async () => {
  await Promise.allSettled(served.map((s) => s.close()));
  await Promise.allSettled(clients.map((c) => c.close()));
  await h?.stop();
});

function client(app: { id: string; token: string }, transport: 'wire' | 'grpc'): HearthClient {
  if (h === undefined) throw new Error('hearth not started');
  const c = createClient({ appId: app.id, token: app.token, runDir: h.runDir, transport, env: {} });
  clients.push(c);
  return c;
}

/** Apps whose callback streams worker `pid` holds (what it publishes for the other workers). */
async function appsOf(runDir: string, pid: number): Promise<string[]> {
  try {
    return (await readFile(path.join(runDir, 'workers', `${pid}.apps`), 'utf8')).split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

async function reload(p: HearthProcess): Promise<void> {
  const r = await runHearthCli(['reload', '--config', p.configPath], { cwd: p.dir, timeoutMs: 90_000 });
  if (r.code !== 0) throw new Error(`hearth reload exited ${r.code}: ${r.stdout}${r.stderr}`);
}

test('non-idempotent calls from A to B over wire and gRPC all succeed through two consecutive reloads, and B ends up served by the new generation', async (t) => {
  const p = h!;
  const before = await workerPids(p);
  for (const transport of ['wire', 'grpc'] as const) {
    const handle = client(B, transport).serve({
      echo: async (req) => {
        await sleep(30);
        return `${transport}:${req.text()}`;
      },
    });
    served.push(handle);
    await handle.ready;
  }
  const callers = { wire: client(A, 'wire'), grpc: client(A, 'grpc') };

  const failures: string[] = [];
  let ok = 0;
  let n = 0;
  const inFlight = new Set<Promise<void>>();
  let loading = true;
  let okBeforeGone = 0;
  let okAfterGone = 0;
  const started = Date.now();
  const load = (async () => {
    while (loading && Date.now() - started < LOAD_MAX_MS) {
      for (const [name, c] of Object.entries(callers)) {
        const text = `${name}-${++n}`;
        const call = c
          .invoke(B.id, 'echo', text, { idempotent: false, timeoutMs: 20_000 })
          .then((reply) => {
            if (reply.text().endsWith(`:${text}`)) ok += 1;
            else failures.push(`${text}: wrong answer ${reply.text()}`);
          })
          .catch((err: unknown) => {
            failures.push(`${text} over ${name} at ${new Date().toISOString()}: ${String((err as { code?: unknown }).code)} ${(err as Error).message} (sent: ${String((err as { sent?: unknown }).sent)})`);
          })
          .finally(() => inFlight.delete(call));
        inFlight.add(call);
      }
      await sleep(EVERY_MS);
    }
  })();

  try {
    await sleep(500);
    await reload(p);
    await sleep(500);
    await reload(p);
    // The old workers are gone: B's calls are now answered through the new generation only.
    await waitFor('the first generation to exit', async () => ((await workerPids(p)).some((pid) => before.includes(pid)) ? undefined : true), { timeoutMs: 60_000 });
    okBeforeGone = ok;
    await sleep(1_000);
    okAfterGone = ok;
  } finally {
    loading = false;
    await load;
    await Promise.allSettled([...inFlight]);
  }

  t.log(`${ok} calls answered, ${failures.length} failed, ${inFlight.size} unsettled`);
  // A failure names its time: the agent's lines around it say which hop lost it.
  if (failures.length > 0) t.log(p.output().split('\n').filter((l) => /call failed|Goaway|draining|drained|callback stream/.test(l)).slice(-60).join('\n'));
  t.deepEqual(failures.slice(0, 20), []);
  t.true(okAfterGone > okBeforeGone, 'calls kept succeeding after the old workers left');
  t.true(ok > 0);
  const now = await workerPids(p);
  t.false(now.some((pid) => before.includes(pid)));
  const holders: number[] = [];
  for (const pid of now) if ((await appsOf(p.runDir, pid)).includes(B.id)) holders.push(pid);
  t.true(holders.length > 0, `B's streams are held by the new workers (workers dir: ${(await readdir(path.join(p.runDir, 'workers'))).join(', ')})`);
  for (const s of served) t.not(s.instanceId, '');
});
