// hearth.service, its tmpfiles.d and sysusers.d entries and the default configuration, checked
// as installed: a release artifact (`package-artifact`, as `npm run package` builds it) goes
// through scripts/install.sh into a temp root, and `systemd-analyze verify --root=<root>` checks
// the installed unit there, so its ExecStart (/opt/hearth/bin/hearth) must really exist in the
// layout install.sh built (a control root without it fails). The root also gets a copy of the
// host's /usr/lib/systemd/system: verify loads the targets a service depends on by default
// (sysinit.target, …) from inside the root. Then each invariant of issue #6 is one named test,
// with its number derived from its source (the schema's defaults, docs/performance.md).
import { cp, mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { loadConfig, parseConfig, type HearthConfig } from '../../agent/config/load-config.js';
import { prepareRunDir } from '../../ops-agent/run-dir.js';
import { packageBuild, type BuiltArtifact } from '../helpers/artifact-builds.js';
import { makeTempDir } from '../support/hearth-process.js';
import {
  installSh,
  parseBytesMiB,
  parseTimespanMs,
  parseUnit,
  requireTool,
  runTool,
  SYSTEMD_DIR,
  unitValue,
  type UnitFile,
} from './deploy-helpers.js';

const VERSION = '0.9.0-systemd';
const UNIT_PATH = '/usr/local/lib/systemd/system/hearth.service';
const TMPFILES_PATH = '/usr/local/lib/tmpfiles.d/hearth.conf';
const SYSUSERS_PATH = '/usr/local/lib/sysusers.d/hearth.conf';
const CONFIG_PATH = '/etc/hearth/hearth.yaml';

// docs/performance.md, "Memory": an agent worker holding 1,000 gRPC connections (the largest
// measured worker), and the ops-agent (270 MB for it and two idle 95 MB workers).
const WORKER_RSS_MIB = 122.4;
const OPS_AGENT_RSS_MIB = 270 - 2 * 95;
const MEASURED_UPGRADE_PEAK_MIB = 561.5;
// worker-generation.ts retire(): after SIGKILLing stragglers at the drain deadline it waits up to 10 s.
const SIGKILL_WAIT_MS = 10_000;

let work: string;
let root: string;
let artifact: BuiltArtifact;
let unit: UnitFile;
let config: HearthConfig;
let analyze: string;

/** The unit's value, failing the test when the key is absent. */
function must(section: string, key: string): string {
  const v = unitValue(unit, section, key);
  if (v === undefined) throw new Error(`[${section}] ${key}= is not set`);
  return v;
}

test.before(async () => {
  analyze = await requireTool('systemd-analyze', 'systemd');
  work = await makeTempDir();
  root = path.join(work, 'root');
  await mkdir(root);
  artifact = await packageBuild(VERSION, path.join(work, 'artifacts'));
  const r = await installSh(['--artifact', artifact.file, '--sha256', artifact.sha256, '--root', root, '--no-enable', '--node', process.execPath]);
  if (r.code !== 0) throw new Error(`install.sh failed (${r.code}): ${r.stdout}${r.stderr}`);
  await cp('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  unit = parseUnit(await readFile(path.join(root, UNIT_PATH), 'utf8'));
  config = await loadConfig(path.join(root, CONFIG_PATH), { env: {} });
});

test.after.always(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('install.sh installed the repository unit, tmpfiles, sysusers and configuration unchanged', async (t) => {
  for (const [from, to] of [
    ['hearth.service', UNIT_PATH],
    ['tmpfiles.d/hearth.conf', TMPFILES_PATH],
    ['sysusers.d/hearth.conf', SYSUSERS_PATH],
    ['hearth.yaml', CONFIG_PATH],
  ] as const) {
    t.is(await readFile(path.join(root, to), 'utf8'), await readFile(path.join(SYSTEMD_DIR, from), 'utf8'), to);
  }
});

test('systemd-analyze verify accepts the installed unit with no warning', async (t) => {
  const r = await runTool(analyze, ['verify', `--root=${root}`, UNIT_PATH]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(`${r.stdout}${r.stderr}`.trim(), '', 'systemd-analyze printed warnings');
});

test('systemd-analyze verify resolves ExecStart inside the root: without the installed wrapper it fails', async (t) => {
  const bare = path.join(work, 'bare');
  await mkdir(path.join(bare, path.dirname(UNIT_PATH)), { recursive: true });
  await cp(path.join(root, 'usr/lib/systemd/system'), path.join(bare, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  await cp(path.join(root, UNIT_PATH), path.join(bare, UNIT_PATH));
  const r = await runTool(analyze, ['verify', `--root=${bare}`, UNIT_PATH]);
  t.not(r.code, 0);
  t.regex(r.stdout + r.stderr, /\/opt\/hearth\/bin\/hearth is not executable/);
});

test('systemd-analyze security rates the unit OK (exposure at most 3.5)', async (t) => {
  const r = await runTool(analyze, ['security', '--offline=yes', `--root=${root}`, '--no-pager', UNIT_PATH]);
  const level = /Overall exposure level for hearth\.service: ([\d.]+)/.exec(r.stdout + r.stderr)?.[1];
  t.truthy(level, r.stdout + r.stderr);
  t.true(Number(level) <= 3.5, r.stdout);
});

test('ExecStart runs the installed ops-agent with /etc/hearth/hearth.yaml; Type=exec', async (t) => {
  t.is(must('Service', 'ExecStart'), '/opt/hearth/bin/hearth start --config /etc/hearth/hearth.yaml');
  t.is(must('Service', 'Type'), 'exec');
  const wrapper = await readFile(path.join(root, 'opt/hearth/bin/hearth'), 'utf8');
  t.regex(wrapper, new RegExp(`^exec "${process.execPath}" /opt/hearth/current/dist/ops-agent/main\\.js "\\$@"$`, 'm'));
  t.is((await stat(path.join(root, 'opt/hearth/bin/hearth'))).mode & 0o111, 0o111);
  // What the wrapper execs, run against the installed tree: the artifact's version.
  const r = await runTool(process.execPath, [path.join(root, 'opt/hearth/current/dist/ops-agent/main.js'), '--version']);
  t.is(r.stdout.trim(), VERSION, r.stderr);
});

test('ExecReload runs `hearth reload` on the same configuration', (t) => {
  t.is(must('Service', 'ExecReload'), '/opt/hearth/bin/hearth reload --config /etc/hearth/hearth.yaml');
});

test('KillMode=mixed: SIGTERM to the ops-agent only', (t) => {
  t.is(must('Service', 'KillMode'), 'mixed');
});

test('TimeoutStopSec exceeds the drain deadline plus the SIGKILL wait', (t) => {
  const stopMs = parseTimespanMs(must('Service', 'TimeoutStopSec'));
  t.true(stopMs > config.upgrade.drainTimeoutMs + SIGKILL_WAIT_MS, `${stopMs} ms <= ${config.upgrade.drainTimeoutMs} + ${SIGKILL_WAIT_MS}`);
});

test('TimeoutStartSec (which bounds ExecReload) exceeds ready + drain deadlines', (t) => {
  const startMs = parseTimespanMs(must('Service', 'TimeoutStartSec'));
  const need = config.upgrade.readyTimeoutMs + config.upgrade.drainTimeoutMs + SIGKILL_WAIT_MS;
  t.true(startMs > need, `${startMs} ms <= ${need} ms`);
});

test('Restart=always with a start limit', (t) => {
  t.is(must('Service', 'Restart'), 'always');
  t.true(parseTimespanMs(must('Service', 'RestartSec')) > 0);
  t.true(parseTimespanMs(must('Unit', 'StartLimitIntervalSec')) > 0);
  t.true(Number(must('Unit', 'StartLimitBurst')) > 0);
});

test('OOMPolicy=continue: an OOM-killed worker does not stop the unit', (t) => {
  t.is(must('Service', 'OOMPolicy'), 'continue');
});

test('NoNewPrivileges=yes', (t) => {
  t.is(must('Service', 'NoNewPrivileges'), 'yes');
});

test('ProtectSystem=strict', (t) => {
  t.is(must('Service', 'ProtectSystem'), 'strict');
});

test('ProtectHome=yes', (t) => {
  t.is(must('Service', 'ProtectHome'), 'yes');
});

test('PrivateTmp=yes', (t) => {
  t.is(must('Service', 'PrivateTmp'), 'yes');
});

test('empty CapabilityBoundingSet and AmbientCapabilities', (t) => {
  t.deepEqual(unit.get('Service')?.get('CapabilityBoundingSet'), ['']);
  t.deepEqual(unit.get('Service')?.get('AmbientCapabilities'), ['']);
});

test('RestrictAddressFamilies is exactly AF_UNIX AF_INET AF_INET6', (t) => {
  const all = unit.get('Service')?.get('RestrictAddressFamilies') ?? [];
  t.is(all.length, 1, 'one assignment');
  t.deepEqual(must('Service', 'RestrictAddressFamilies').split(/\s+/).sort(), ['AF_INET', 'AF_INET6', 'AF_UNIX']);
});

test('User=hearth and Group=hearth', (t) => {
  t.is(must('Service', 'User'), 'hearth');
  t.is(must('Service', 'Group'), 'hearth');
});

test('RuntimeDirectory=hearth, preserved across restarts; StateDirectory=hearth; ConfigurationDirectory=hearth', (t) => {
  t.is(must('Service', 'RuntimeDirectory'), 'hearth');
  t.is(must('Service', 'RuntimeDirectoryPreserve'), 'yes');
  t.is(must('Service', 'StateDirectory'), 'hearth');
  t.is(must('Service', 'ConfigurationDirectory'), 'hearth');
});

test('no ReadWritePaths: the run and state directories are the only writable places', (t) => {
  t.is(unit.get('Service')?.get('ReadWritePaths'), undefined);
  // RuntimeDirectory= and StateDirectory= are what make them writable under ProtectSystem=strict.
  t.is(config.runDir, `/run/${must('Service', 'RuntimeDirectory')}`);
  t.is(config.stateDir, `/var/lib/${must('Service', 'StateDirectory')}`);
});

test('no MemoryDenyWriteExecute: V8 needs writable and executable pages', (t) => {
  t.not(unitValue(unit, 'Service', 'MemoryDenyWriteExecute'), 'yes');
});

test('MemoryMax holds two generations of workers at the measured RSS plus the ops-agent; MemoryHigh below it', (t) => {
  const max = parseBytesMiB(must('Service', 'MemoryMax'));
  const high = parseBytesMiB(must('Service', 'MemoryHigh'));
  const twoGenerations = 2 * config.workers * WORKER_RSS_MIB + OPS_AGENT_RSS_MIB;
  t.true(max >= twoGenerations, `MemoryMax ${max} MiB < 2 x ${config.workers} x ${WORKER_RSS_MIB} + ${OPS_AGENT_RSS_MIB} = ${twoGenerations} MiB`);
  t.true(high >= MEASURED_UPGRADE_PEAK_MIB, `MemoryHigh ${high} MiB < measured upgrade peak ${MEASURED_UPGRADE_PEAK_MIB} MiB`);
  t.true(high < max);
});

test('LimitNOFILE allows many app connections per worker', (t) => {
  t.true(Number(must('Service', 'LimitNOFILE')) >= 65536);
});

test('the default configuration uses /run/hearth and /var/lib/hearth and passes `hearth validate`', async (t) => {
  t.is(config.runDir, '/run/hearth');
  t.is(config.stateDir, '/var/lib/hearth');
  const env = { ...process.env };
  delete env.HEARTH_RUN_DIR;
  delete env.HEARTH_STATE_DIR;
  const r = await runTool(process.execPath, [path.join(root, 'opt/hearth/current/dist/ops-agent/main.js'), 'validate', '--config', path.join(root, CONFIG_PATH)], env);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^OK .*run dir \/run\/hearth, state dir \/var\/lib\/hearth/);
});

/** Non-comment lines of a tmpfiles.d / sysusers.d file, split into fields (quoted fields kept whole). */
function configLines(text: string): string[][] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => [...l.matchAll(/"[^"]*"|\S+/g)].map((m) => m[0]));
}

test('sysusers.d creates the user and group the unit runs as', async (t) => {
  const lines = configLines(await readFile(path.join(root, SYSUSERS_PATH), 'utf8'));
  const user = lines.find((f) => f[0] === 'u');
  const group = lines.find((f) => f[0] === 'g');
  t.is(user?.[1], must('Service', 'User'));
  t.is(group?.[1], must('Service', 'Group'));
  t.is(user?.[2], `-:${must('Service', 'Group')}`, 'the user is in the group');
  t.is(user?.[4], config.stateDir, 'home is the state directory');
});

test('tmpfiles.d creates the run dir and apps/ as the unit and the ops-agent do', async (t) => {
  const lines = configLines(await readFile(path.join(root, TMPFILES_PATH), 'utf8'));
  const runDir = `/run/${must('Service', 'RuntimeDirectory')}`;
  t.deepEqual(
    lines.map((f) => f.slice(0, 5)),
    [
      ['d', runDir, must('Service', 'RuntimeDirectoryMode'), must('Service', 'User'), must('Service', 'Group')],
      ['d', `${runDir}/apps`, must('Service', 'RuntimeDirectoryMode'), must('Service', 'User'), must('Service', 'Group')],
    ],
  );
  t.is(runDir, config.runDir);

  // What ops-agent/run-dir.ts itself creates, for this configuration moved into a temp dir: the
  // same modes, so neither undoes the other; and StateDirectoryMode matches the state dir's.
  const dir = path.join(work, 'agent');
  const text = `${await readFile(path.join(root, CONFIG_PATH), 'utf8')}\n`.replace('apps: []', 'apps: [{ id: demo, token: demo-token-1 }]');
  const moved = await parseConfig(text, path.join(dir, 'hearth.yaml'), { env: { HEARTH_RUN_DIR: path.join(dir, 'run'), HEARTH_STATE_DIR: path.join(dir, 'state') } });
  const lock = await prepareRunDir(moved, pino({ level: 'silent' }), process.pid);
  try {
    const mode = async (p: string): Promise<string> => ((await stat(p)).mode & 0o7777).toString(8).padStart(4, '0');
    t.is(await mode(moved.runDir), lines[0]?.[2] ?? '(no line)');
    t.is(await mode(path.join(moved.runDir, 'apps')), lines[1]?.[2] ?? '(no line)');
    t.is(await mode(moved.stateDir), must('Service', 'StateDirectoryMode'));
    t.is(await mode(path.join(moved.runDir, 'apps', 'demo')), '0750', 'an app directory: hearth and the app group only');
  } finally {
    await lock.release();
  }
});

test('applied to the root, sysusers and tmpfiles create hearth and /run/hearth owned by it', async (t) => {
  const sysusers = await requireTool('systemd-sysusers', 'systemd');
  const tmpfiles = await requireTool('systemd-tmpfiles', 'systemd');
  const applied = path.join(work, 'applied');
  await mkdir(path.join(applied, 'etc'), { recursive: true });
  const u = await runTool(sysusers, [`--root=${applied}`, path.join(root, SYSUSERS_PATH)]);
  t.is(u.code, 0, u.stderr);
  const passwd = (await readFile(path.join(applied, 'etc/passwd'), 'utf8')).split('\n').find((l) => l.startsWith('hearth:'));
  const groupLine = (await readFile(path.join(applied, 'etc/group'), 'utf8')).split('\n').find((l) => l.startsWith('hearth:'));
  const [, , uid, gid, , home] = (passwd ?? '').split(':');
  t.truthy(passwd, 'hearth user created');
  t.is(groupLine?.split(':')[2], gid, 'its primary group is the hearth group');
  t.is(home, '/var/lib/hearth');

  const f = await runTool(tmpfiles, [`--root=${applied}`, '--create', path.join(root, TMPFILES_PATH)]);
  t.is(f.code, 0, f.stderr);
  for (const p of ['run/hearth', 'run/hearth/apps']) {
    const st = await stat(path.join(applied, p));
    t.true(st.isDirectory(), p);
    t.is(st.mode & 0o7777, 0o755, p);
    t.is(`${st.uid}:${st.gid}`, `${uid}:${gid}`, `${p} owned by hearth:hearth`);
  }
});
