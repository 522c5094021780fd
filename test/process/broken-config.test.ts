// A configuration that cannot be used stops `hearth start` before anything starts: exit 1, every
// problem on stderr with its path, no run dir created. Usage errors exit 2.
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { stringify as toYaml } from 'yaml';
import { defaultTestConfig, makeTempDir, runHearthCli } from '../support/hearth-process.js';

const valid = toYaml(defaultTestConfig());

interface Case {
  readonly title: string;
  readonly text: string;
  /** Expected on stderr: the problem with its path. */
  readonly expect: RegExp;
  readonly env?: Record<string, string>;
}

const cases: Case[] = [
  { title: 'invalid YAML', text: 'version: 1\napps: [\n  { id: demo, token: demo-token\n', expect: /not valid YAML/ },
  {
    title: 'half-written file',
    // Cut right after a key: the value never made it to disk.
    text: valid.slice(0, valid.indexOf('type: state.sqlite') + 'type: '.length),
    expect: /components\[0\]\.type: must be string/,
  },
  { title: 'empty file (a write that never happened)', text: '', expect: /\(root\): must be a mapping/ },
  { title: 'unknown key', text: `${valid}workerz: 3\n`, expect: /workerz: unknown key/ },
  {
    title: 'missing environment variable',
    text: valid.replace('token: demo-token', 'token: ${HX_TEST_UNSET_TOKEN}'),
    expect: /apps\[0\]\.token: environment variable HX_TEST_UNSET_TOKEN is not set/,
  },
  {
    title: 'unreadable token file',
    text: valid.replace('token: demo-token', 'tokenFile: ./no-such-token'),
    expect: /apps\[0\]\.tokenFile: cannot read .*no-such-token: ENOENT/,
  },
  {
    title: 'token file with a too short token',
    text: valid.replace('token: other-token', 'tokenFile: ./short-token'),
    expect: /apps\[1\]\.tokenFile: token in .*short-token is shorter than 8 characters/,
  },
  {
    title: 'two Redis components whose keys can meet (a keyPrefix inside a shared store\'s keys)',
    text:
      `${valid}  - { name: open, type: state.redis, shared: true, metadata: { url: 'redis://127.0.0.1:6379' } }\n` +
      `  - { name: settings, type: configuration.redis, metadata: { url: 'redis://127.0.0.1:6379', keyPrefix: 'hearth:state:open:shared:' } }\n`,
    expect: /components\[\d+\]: the Redis keys of configuration\.redis "settings" can meet those of state\.redis "open" \(components\[\d+\]\)/,
  },
];

for (const c of cases) {
  test(`start refuses a config with: ${c.title}`, async (t) => {
    const dir = await makeTempDir();
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'hearth.yaml');
    await writeFile(file, c.text);
    await writeFile(path.join(dir, 'short-token'), 'abc\n', { mode: 0o600 });

    const start = await runHearthCli(['start', '--config', file], c.env ? { env: c.env } : {});
    const seen = `exit ${start.code ?? start.signal}\nstderr: ${start.stderr}\nstdout: ${start.stdout}`;
    t.is(start.code, 1, seen);
    t.true(start.stderr.includes(file), seen);
    t.regex(start.stderr, c.expect);
    t.is(start.stdout, '', 'no log line: nothing was started');
    await t.throwsAsync(access(path.join(dir, 'run')), { code: 'ENOENT' });
    await t.throwsAsync(access(path.join(dir, 'data')), { code: 'ENOENT' });

    const validate = await runHearthCli(['validate', '--config', file]);
    t.is(validate.code, 1);
    t.regex(validate.stderr, c.expect);
  });
}

test('a component type this build does not implement is refused by validate and start, naming its path', async (t) => {
  const dir = await makeTempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hearth.yaml');
  await writeFile(file, valid.replace('type: state.sqlite', 'type: state.nosuch'));
  for (const command of ['validate', 'start']) {
    const r = await runHearthCli([command, '--config', file]);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, /components\[0\]\.type: must be one of/);
  }
});

test('a component that fails to start in the workers: start exits 1 naming it, nothing keeps running', async (t) => {
  const dir = await makeTempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hearth.yaml');
  await writeFile(
    file,
    `${valid}  - name: settings\n    type: configuration.file\n    metadata: { path: ./missing-settings.yaml }\n`,
  );
  const r = await runHearthCli(['start', '--config', file]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /cannot start: worker \d \(pid \d+\) failed to start: .*missing-settings\.yaml/);
  for (const f of ['run/admin.sock', 'run/hearth.pid', 'run/apps/demo/http.sock']) {
    await t.throwsAsync(access(path.join(dir, f)), { code: 'ENOENT' }, `${f} should not be left behind`);
  }
});

test('every problem is reported at once', async (t) => {
  const dir = await makeTempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hearth.yaml');
  await writeFile(file, `${valid.replace('token: demo-token', 'token: short')}workerz: 1\n`);
  const r = await runHearthCli(['validate', '--config', file]);
  t.is(r.code, 1);
  t.regex(r.stderr, /apps\[0\]\.token: must NOT have fewer than 8 characters/);
  t.regex(r.stderr, /workerz: unknown key/);
});

test('a missing config file is exit 1 naming the file', async (t) => {
  const dir = await makeTempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'nope.yaml');
  const r = await runHearthCli(['start', '--config', file]);
  t.is(r.code, 1);
  t.true(r.stderr.includes(file));
  t.regex(r.stderr, /cannot read file/);
});

test('validate prints OK for a good file', async (t) => {
  const dir = await makeTempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'hearth.yaml');
  await writeFile(file, valid);
  const r = await runHearthCli(['validate', '--config', file]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^OK /);
});

test('validate warns on stderr, and still prints OK, about an app token too short for the sibling port', async (t) => {
  const dir = await makeTempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hearth.yaml');
  const siblings = { listen: { port: 7443 }, tls: { certFile: './agent.crt', keyFile: './agent.key' }, token: 'cluster-token-0123456789abcdef0123456789' };
  await writeFile(file, `${valid}${toYaml({ siblings })}`);
  const r = await runHearthCli(['validate', '--config', file]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^OK /);
  t.regex(r.stderr, /warning: apps\[0\]\.token: app "demo" has a 10-character token; the sibling port accepts app tokens of at least 32 characters/);
});

test('usage errors exit 2', async (t) => {
  for (const args of [[], ['frobnicate'], ['start', '--bogus'], ['validate'], ['status', '--config', 'a', '--run-dir', 'b']]) {
    const r = await runHearthCli(args);
    t.is(r.code, 2, `hearth ${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /Usage: hearth/);
  }
});

test('status without a running agent: exit 1 and a clear message', async (t) => {
  const dir = await makeTempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await runHearthCli(['status', '--run-dir', dir]);
  t.is(r.code, 1);
  t.regex(r.stderr, /not running .*admin\.sock: no agent is listening/);
});
