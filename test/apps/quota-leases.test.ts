// Host-wide quotas: AppQuotas in two "workers" leasing from one HostQuotas (ops-agent/host-quotas.ts)
// through an in-memory leaser, on a clock the test moves — the share of the host each worker
// gets, what happens when the host does not answer (fall back, lease again later, late grants given
// back), and how a debt larger than one burst is repaid.
import test from 'ava';
import { AppQuotas, type LeaseGrant, type LeaseRequest, type QuotaLeaser } from '../../agent/apps/app-quotas.js';
import type { AppConfig } from '../../agent/config/load-config.js';
import { HostQuotas } from '../../ops-agent/host-quotas.js';

function appWith(quota: Partial<AppConfig['quota']>): AppConfig {
  return { id: 'x', quota: { maxInFlight: 0, requestsPerSecond: 0, bytesPerSecond: 0, burstSeconds: 1, ...quota } } as AppConfig;
}

/** Lets lease answers (promise callbacks) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class Leaser implements QuotaLeaser {
  readonly asks: LeaseRequest[] = [];
  /** While set, asks are never answered (an ops-agent that is gone). */
  silent = false;
  /** While set, answers come this late (real ms). */
  lateMs = 0;
  constructor(readonly host: HostQuotas, readonly pid: number) {}
  lease(appId: string, request: LeaseRequest): Promise<LeaseGrant> {
    this.asks.push(request);
    if (this.silent) return new Promise(() => undefined);
    const grant = this.host.lease(this.pid, { app: appId, ...request });
    if (this.lateMs > 0) return new Promise((resolve) => setTimeout(() => resolve(grant), this.lateMs));
    return Promise.resolve(grant);
  }
}

function admitted(q: AppQuotas, app: AppConfig): boolean {
  try {
    q.admit(app, 0)();
    return true;
  } catch {
    return false;
  }
}

test('two workers leasing from one host admit the app\'s rate once, not twice', async (t) => {
  let now = 0;
  const app = appWith({ requestsPerSecond: 100 });
  const host = new HostQuotas([app], () => now);
  const workers = [1, 2].map((pid) => new AppQuotas({ now: () => now, leaser: new Leaser(host, pid), workers: 2 }));
  await Promise.all(workers.map((w) => w.prime([app])));
  let count = 0;
  // 10 s in steps of 5 ms, each worker offered a call at every step (400 calls/s offered).
  for (let step = 0; step < 2_000; step++) {
    now += 5;
    for (const w of workers) if (admitted(w, app)) count += 1;
    await settle();
  }
  const expected = 100 * 10 + 100; // the rate over 10 s plus one burst
  t.log(`admitted ${count}; the quota allows ${expected}`);
  t.true(count <= expected * 1.1 && count >= expected * 0.9, `${count} admitted`);
});

test('a host that stops answering: the worker falls back to its share, leases again later forgetting what the host counted, and gives back late grants', async (t) => {
  let now = 0;
  const app = appWith({ requestsPerSecond: 100, maxInFlight: 32 });
  const host = new HostQuotas([app], () => now);
  const leaser = new Leaser(host, 1);
  const q = new AppQuotas({ now: () => now, leaser, workers: 2 });
  await q.prime([app]);
  t.is(host.slotsHeld('x'), 2, 'a sixteenth of 32 slots leased');

  // The host goes quiet: the next ask times out (500 ms) and the worker runs on its share (50/s).
  leaser.silent = true;
  const asked = leaser.asks.length;
  while (leaser.asks.length === asked) t.true(admitted(q, app), 'admitted from the lease until the next ask');
  await new Promise((resolve) => setTimeout(resolve, 700));
  now += 2_000;
  let share = 0;
  for (let i = 0; i < 200; i++) if (admitted(q, app)) share += 1;
  t.is(share, 50, 'one burst of its share');

  // It answers again, late at first: the grant arriving after the timeout is given back.
  leaser.silent = false;
  leaser.lateMs = 700;
  now += 5_000;
  admitted(q, app); // leases again: the first ask forgets what the host counted for this worker
  const reset = leaser.asks.at(-1);
  t.is(reset?.returnSlots, Number.MAX_SAFE_INTEGER);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  t.is(leaser.asks.at(-1)?.returnSlots, 2, 'the late grant\'s slots went back');
  t.is(host.slotsHeld('x'), 0);

  // And on time again: leased once more after the retry interval.
  leaser.lateMs = 0;
  now += 5_000;
  admitted(q, app);
  await settle();
  t.true(host.slotsHeld('x') > 0, 'leasing from the host again');
});

test('a debt of many bursts is repaid at the rate: 40 bursts of bytes wait about 40 s, not quadratically longer', async (t) => {
  let now = 0;
  const app = appWith({ bytesPerSecond: 100_000 });
  const host = new HostQuotas([app], () => now);
  const q = new AppQuotas({ now: () => now, leaser: new Leaser(host, 1), workers: 1 });
  await q.prime([app]);
  q.admit(app, 4_000_000)(); // admitted (not in debt yet): 40 bursts owed
  await settle();
  let waited = 0;
  while (!admitted(q, app)) {
    now += 100;
    waited += 100;
    await settle();
    if (waited > 600_000) break;
  }
  t.log(`admitted again after ${waited / 1000} s`);
  t.true(waited >= 35_000, `${waited} ms: the debt was not repaid at the rate`);
  t.true(waited <= 50_000, `${waited} ms to repay 40 s of bytes`);
});
