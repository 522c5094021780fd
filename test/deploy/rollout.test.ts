// scripts/rollout against three real ops-agents (`hearth start`, one worker each, the admin API on
// 127.0.0.1 with a bearer token), run through its sh wrapper as an operator runs it. Artifacts are
// built the way test/upgrade/failing-builds.test.ts builds them: a good one from package-artifact
// and one patched so its self-check fails. The tests run in order on the same three agents and
// say what state they leave: failing canary → full rollout → rollback of one host → skip →
// Ctrl-C → pre-flight aborts → wrong token → dry run.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ROLLOUT_ERROR_CATALOG } from '../../scripts/rollout-errors.js';
import type { HostOutcome, RolloutReport } from '../../scripts/rollout-report.js';
import { BROKEN, packageBuild, patchedBuild, type BuiltArtifact } from '../helpers/artifact-builds.js';
import { makeTempDir, startHearth, type HearthProcess, type StatusJson } from '../support/hearth-process.js';
import { pidsOf } from '../helpers/upgrade-helpers.js';
import { freePort } from '../support/free-port.js';
import { repoRoot } from '../support/repo-root.js';

const TOKEN = 'rollout-test-admin-token-0123456789';
const ROLLOUT = path.join(repoRoot, 'scripts/rollout');

interface Agent {
  readonly h: HearthProcess;
  /** host:port of its admin TCP listener, as the hosts file lists it. */
  readonly address: string;
}

let dir: string;
let agents: Agent[] = [];
let good: BuiltArtifact;
let failing: BuiltArtifact;
/** The version every agent starts on: the checkout's own build. */
let initialVersion: string;
const children = new Set<ChildProcess>();

test.before(async () => {
  dir = await makeTempDir();
  good = await packageBuild('2.0.0', dir);
  failing = await patchedBuild(good, '2.0.1-selfcheck', dir, BROKEN.selfCheckFails);
  agents = await Promise.all(
    [0, 1, 2].map(async () => {
      const h = await startHearth({
        workers: 1,
        config: { upgrade: { readyTimeoutMs: 15_000, drainTimeoutMs: 5_000, allowedFileDirs: [dir] }, admin: { tcp: { host: '127.0.0.1', port: 0, token: TOKEN } } },
      });
      const s = await h.status();
      if (!s.adminTcp) throw new Error('the agent reports no admin TCP address');
      return { h, address: s.adminTcp };
    }),
  );
  initialVersion = (await agents[0]!.h.status()).activeVersion;
  await writeFile(path.join(dir, 'admin.token'), `${TOKEN}\n`);
  await writeFile(path.join(dir, 'wrong.token'), 'not-the-admin-token-0123456789\n');
  await hostsFile('hosts.txt', agents.map((a) => a.address));
});

test.after.always(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(agents.map((a) => a.h.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs scripts/rollout from the temp dir; `onOutput` sees stdout as it grows. */
async function rollout(args: readonly string[], onOutput?: (stdout: string, child: ChildProcess) => void): Promise<RunResult> {
  const child = spawn(ROLLOUT, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    onOutput?.(stdout, child);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(timer);
  children.delete(child);
  return { code, stdout, stderr };
}

async function rolloutJson(t: ExecutionContext, args: readonly string[]): Promise<RunResult & { report: RolloutReport }> {
  const r = await rollout([...args, '--json']);
  let report: RolloutReport;
  try {
    report = JSON.parse(r.stdout) as RolloutReport;
  } catch {
    t.log(r.stderr);
    throw new Error(`not JSON on stdout (exit ${r.code}): ${r.stdout.slice(0, 2000)}`);
  }
  return { ...r, report };
}

const common = ['--hosts', 'hosts.txt', '--token-file', 'admin.token'];
const upgradeTo = (a: BuiltArtifact): string[] => ['--artifact', a.file, '--sha256', a.sha256];

async function hostsFile(name: string, lines: readonly string[]): Promise<void> {
  await writeFile(path.join(dir, name), `# test fleet\n\n${lines.join('\n')}\n`);
}

function row(r: RolloutReport, a: Agent | string): HostOutcome {
  const name = typeof a === 'string' ? a : a.address;
  const h = r.hosts.find((x) => x.host === name);
  if (!h) throw new Error(`no row for ${name} in ${JSON.stringify(r.hosts)}`);
  return h;
}

async function snapshot(): Promise<StatusJson[]> {
  return Promise.all(agents.map((a) => a.h.status()));
}

/** Same active version, generation and worker pids as before: nothing was done to the agent. */
function untouched(t: ExecutionContext, before: StatusJson, after: StatusJson, label: string): void {
  t.is(after.activeVersion, before.activeVersion, `${label}: version`);
  t.is(after.generation, before.generation, `${label}: generation`);
  t.deepEqual(pidsOf(after), pidsOf(before), `${label}: worker pids`);
}

test.serial('a build that fails its self-check: the canary fails with the code, exit 1, the other hosts are not attempted', async (t) => {
  const before = await snapshot();
  const r = await rollout([...common, ...upgradeTo(failing), '--canary', '1', '--batch-size', '2']);
  t.is(r.code, 1, r.stdout + r.stderr);
  const [a, b, c] = agents as [Agent, Agent, Agent];
  // The progress: one line per phase, prefixed with the host.
  t.regex(r.stdout, new RegExp(`^${a.address}\\s+\\[download\\] fetching `, 'm'));
  t.regex(r.stdout, new RegExp(`^${a.address}\\s+\\[ready\\]`, 'm'));
  t.regex(r.stdout, /stopped: the canary failed/);
  // The summary table.
  t.regex(r.stdout, /upgrade to 2\.0\.1-selfcheck: FAILED — stopped: the canary failed/);
  t.regex(r.stdout, new RegExp(`^\\s+${a.address}\\s+canary\\s+${initialVersion} → 2\\.0\\.1-selfcheck\\s+failed \\[HEARTH_ERR_GENERATION_FAILED\\]\\s+\\d+\\.\\d s$`, 'm'));
  for (const x of [b, c]) t.regex(r.stdout, new RegExp(`^\\s+${x.address}\\s+batch 1\\s+${initialVersion} → 2\\.0\\.1-selfcheck\\s+not attempted\\s+-$`, 'm'));
  t.regex(r.stdout, new RegExp(`${a.address}: generation \\d+ \\(2\\.0\\.1-selfcheck\\).*self-check failed: injected by the test`));

  const after = await snapshot();
  for (const [i, s] of after.entries()) untouched(t, before[i]!, s, agents[i]!.address);
  t.is(after[0]!.upgrade.lastResult?.code, 'HEARTH_ERR_GENERATION_FAILED');
  t.is(after[1]!.upgrade.lastResult, null, 'never asked');
  t.is(after[2]!.upgrade.lastResult, null, 'never asked');
});

test.serial('canary 1 + batch 2: every host ends on the new version, canary first, exit 0', async (t) => {
  const r = await rolloutJson(t, [...common, ...upgradeTo(good), '--canary', '1', '--batch-size', '2', '--pause', '500ms']);
  t.is(r.code, 0, r.stderr);
  const [a, b, c] = agents as [Agent, Agent, Agent];
  t.true(r.report.ok);
  t.is(r.report.stopped, null);
  t.deepEqual(r.report.batches, [
    { name: 'canary', hosts: [a.address] },
    { name: 'batch 1', hosts: [b.address, c.address] },
  ]);
  for (const x of agents) {
    const h = row(r.report, x);
    t.like(h, { result: 'ok', from: initialVersion, to: '2.0.0' });
    t.deepEqual(Object.keys(h.phases ?? {}).slice(-3), ['ready', 'drain', 'done']);
  }
  // With --json the progress lines go to stderr, still one per phase and host.
  t.regex(r.stderr, new RegExp(`^${b.address}\\s+\\[drain\\]`, 'm'));
  // After the pause the canary is looked at again before the batch starts.
  t.regex(r.stderr, /pause 0\.5 s before batch 1, then re-check the 1 host\(s\) done so far\nre-check: 1 of 1 host\(s\) still on their new version and ready\n== batch 1/);

  const after = await snapshot();
  for (const s of after) {
    t.is(s.activeVersion, '2.0.0');
    t.true(s.ready);
    t.true(s.workers.every((w) => w.version === '2.0.0'));
  }
  // Canary → batch, by the hosts' own records: the batch began after the canary had finished.
  const canaryDone = Date.parse(after[0]!.upgrade.lastResult?.finishedAt ?? '');
  for (const s of [after[1]!, after[2]!]) t.true(Date.parse(s.upgrade.lastResult?.startedAt ?? '') >= canaryDone);
  t.true(Date.parse(row(r.report, b).startedAt ?? '') >= Date.parse(row(r.report, a).finishedAt ?? ''));
});

test.serial('--rollback brings a host back to its previous version', async (t) => {
  const [a] = agents as [Agent];
  await hostsFile('one.txt', [a.address]);
  const r = await rolloutJson(t, ['--hosts', 'one.txt', '--token-file', 'admin.token', '--rollback']);
  t.is(r.code, 0, r.stderr);
  t.like(row(r.report, a), { result: 'ok', from: '2.0.0', to: initialVersion, batch: 'canary' });
  const s = await a.h.status();
  t.is(s.activeVersion, initialVersion);
  t.true(s.ready);
  t.like(s.upgrade.lastResult, { kind: 'rollback', from: '2.0.0', to: initialVersion, result: 'ok' });
});

test.serial('hosts already on the target version are skipped; the rest are upgraded', async (t) => {
  const before = await snapshot();
  const r = await rolloutJson(t, [...common, ...upgradeTo(good)]);
  t.is(r.code, 0, r.stderr);
  const [a, b, c] = agents as [Agent, Agent, Agent];
  t.like(row(r.report, a), { result: 'ok', batch: 'canary', from: initialVersion, to: '2.0.0' });
  for (const x of [b, c]) t.like(row(r.report, x), { result: 'skipped', batch: null, reason: 'already on 2.0.0' });
  t.deepEqual(r.report.batches, [{ name: 'canary', hosts: [a.address] }]);
  const after = await snapshot();
  t.is(after[0]!.activeVersion, '2.0.0');
  untouched(t, before[1]!, after[1]!, b.address);
  untouched(t, before[2]!, after[2]!, c.address);
});

test.serial('Ctrl-C: the running batch finishes, later batches are not attempted', async (t) => {
  const before = await snapshot();
  const [a, b, c] = agents as [Agent, Agent, Agent];
  let signalled = false;
  const r = await rollout([...common, '--rollback', '--canary', '1', '--batch-size', '1'], (stdout, child) => {
    // The canary's hand-off has begun: interrupt now.
    if (!signalled && new RegExp(`^${a.address}\\s+\\[locate\\]`, 'm').test(stdout)) {
      signalled = true;
      child.kill('SIGINT');
    }
  });
  t.true(signalled, r.stdout);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /SIGINT: finishing the running batch, then stopping/);
  t.regex(r.stdout, /rollback: FAILED — stopped: interrupted before batch 1/);
  t.regex(r.stdout, new RegExp(`^\\s+${a.address}\\s+canary\\s+2\\.0\\.0 → ${initialVersion}\\s+ok\\s`, 'm'));
  for (const x of [b, c]) t.regex(r.stdout, new RegExp(`^\\s+${x.address}\\s+batch \\d\\s+2\\.0\\.0 → ${initialVersion}\\s+not attempted\\s+-$`, 'm'));
  const after = await snapshot();
  t.is(after[0]!.activeVersion, initialVersion, 'the canary finished its rollback');
  untouched(t, before[1]!, after[1]!, b.address);
  untouched(t, before[2]!, after[2]!, c.address);
});

test.serial('an unreachable host fails the pre-flight: nothing changes; --skip-unready leaves it out and exits 1', async (t) => {
  const dead = `127.0.0.1:${await freePort()}`;
  await hostsFile('with-dead.txt', [...agents.map((a) => a.address), dead]);
  const args = ['--hosts', 'with-dead.txt', '--token-file', 'admin.token', ...upgradeTo(good)];
  const [a, b, c] = agents as [Agent, Agent, Agent];

  const before = await snapshot();
  const r = await rolloutJson(t, args);
  t.is(r.code, 1, r.stderr);
  t.like(r.report.stopped, { reason: 'preflight' });
  t.like(row(r.report, dead), { result: 'failed', code: 'HEARTH_ERR_NOT_RUNNING' });
  t.regex(row(r.report, dead).reason ?? '', /ECONNREFUSED/);
  // a would be upgraded (it runs the initial version), but nothing starts before every host answered.
  t.like(row(r.report, a), { result: 'not attempted', from: initialVersion, to: '2.0.0', reason: 'pre-flight failed: nothing was changed' });
  for (const x of [b, c]) t.like(row(r.report, x), { result: 'skipped' });
  const after = await snapshot();
  for (const [i, s] of after.entries()) untouched(t, before[i]!, s, agents[i]!.address);

  const skip = await rolloutJson(t, [...args, '--skip-unready']);
  t.is(skip.code, 1, 'a host left out is not on the target version');
  t.like(row(skip.report, dead), { result: 'skipped', code: 'HEARTH_ERR_NOT_RUNNING' });
  t.like(row(skip.report, a), { result: 'ok', to: '2.0.0' });
  t.is((await a.h.status()).activeVersion, '2.0.0');
});

test.serial('a wrong token is reported as HEARTH_ERR_UNAUTHENTICATED for every host, nothing changes', async (t) => {
  const before = await snapshot();
  const r = await rolloutJson(t, ['--hosts', 'hosts.txt', '--token-file', 'wrong.token', '--rollback']);
  t.is(r.code, 1);
  for (const a of agents) t.like(row(r.report, a), { result: 'failed', code: 'HEARTH_ERR_UNAUTHENTICATED' });
  const after = await snapshot();
  for (const [i, s] of after.entries()) untouched(t, before[i]!, s, agents[i]!.address);
});

test.serial('--dry-run prints the plan (canary, then batches) and changes nothing', async (t) => {
  const before = await snapshot();
  const r = await rollout([...common, '--rollback', '--canary', '1', '--batch-size', '1', '--dry-run']);
  t.is(r.code, 0, r.stdout + r.stderr);
  const [a, b, c] = agents as [Agent, Agent, Agent];
  t.regex(r.stdout, new RegExp(`plan: canary: ${a.address}\\nplan: batch 1: ${b.address}\\nplan: batch 2: ${c.address}`));
  t.regex(r.stdout, /rollback: DRY RUN: pre-flight ok, nothing changed/);
  const after = await snapshot();
  for (const [i, s] of after.entries()) untouched(t, before[i]!, s, agents[i]!.address);
});

test('bad arguments, a missing token file and a malformed hosts file are HEARTH_ERR_USAGE (exit 2) naming the problem', async (t) => {
  await hostsFile('bad-hosts.txt', ['127.0.0.1:9901', 'no-port-here']);
  await hostsFile('dup-hosts.txt', ['127.0.0.1:9901', '127.0.0.1:9901  # again']);
  const sha = '0'.repeat(64);
  const cases: [string[], RegExp][] = [
    [['--hosts', 'hosts.txt', '--token-file', 'missing.token', '--rollback'], /--token-file: cannot read .*missing\.token: ENOENT/],
    [['--hosts', 'bad-hosts.txt', '--token-file', 'admin.token', '--rollback'], /bad-hosts\.txt:4: "no-port-here" is not host:port/],
    [['--hosts', 'dup-hosts.txt', '--token-file', 'admin.token', '--rollback'], /dup-hosts\.txt:4: 127\.0\.0\.1:9901 is already listed on line 3/],
    [[...common, '--artifact', 'relative/hearth-2.0.0-linux-x64-node115.tgz', '--sha256', sha], /give a URL or an absolute path as the hosts see it/],
    [[...common, '--artifact', '/srv/build.tgz', '--sha256', sha], /cannot tell the target version from the artifact name .*give --version/],
    [[...common, '--artifact', '/srv/hearth-2.0.0-linux-x64-node115.tgz', '--sha256', 'abc'], /--sha256 must be 64 hex digits/],
    [[...common, '--rollback', '--sha256', sha], /--sha256 does not go with --rollback/],
    [[...common, '--rollback', '--pause', 'soon'], /--pause must be a duration/],
    [[...common, '--rollback', '--batch-size', '0'], /--batch-size must be a whole number >= 1/],
    [[...common, '--rollback', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await rollout(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /^rollout: \[HEARTH_ERR_USAGE\] /);
    t.regex(r.stderr, message);
  }
  const help = await rollout(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^usage: scripts\/rollout --hosts FILE/);
});

test('docs/operations.md lists every code of the rollout catalog', async (t) => {
  const doc = await readFile(path.join(repoRoot, 'docs/operations.md'), 'utf8');
  for (const code of Object.keys(ROLLOUT_ERROR_CATALOG)) t.regex(doc, new RegExp(`^\\| \`${code}\` \\|`, 'm'), code);
});
