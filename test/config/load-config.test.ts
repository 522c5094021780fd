import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ConfigError, hashToken, loadConfig, parseConfig } from '../../agent/config/load-config.js';
import { repoRoot } from '../support/repo-root.js';

const dirs: string[] = [];
test.after.always(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'hx-'));
  dirs.push(d);
  return d;
}

const minimal = `
version: 1
runDir: ./run
stateDir: ./data
apps:
  - id: demo
    token: demo-token
`;

async function problems(text: string, env: Record<string, string> = {}): Promise<readonly string[]> {
  const err = await parseConfig(text, '/etc/hearth/test.yaml', { env }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error('expected a ConfigError');
  return err.problems;
}

test('the example configuration is valid', async (t) => {
  const config = await loadConfig(path.join(repoRoot, 'examples/hearth.yaml'), { env: {} });
  t.deepEqual(config.apps.map((a) => a.id), ['demo', 'other']);
  t.is(config.runDir, path.join(repoRoot, 'run'));
  t.is(config.stateDir, path.join(repoRoot, 'data'));
  t.true(config.components.every((c) => c.name === 'default'));
});

test('defaults come from the schema, paths resolve against the file, the result is frozen', async (t) => {
  const config = await parseConfig(minimal, '/etc/hearth/test.yaml');
  t.is(config.workers, 2);
  t.is(config.limits.maxBodyBytes, 4 * 1024 * 1024);
  t.is(config.runDir, '/etc/hearth/run');
  t.is(config.adminSocket, '/etc/hearth/run/admin.sock');
  t.is(config.apps[0]!.grpcSocket, '/etc/hearth/run/apps/demo/grpc.sock');
  t.deepEqual(config.apps[0]!.allow.components, ['*']);
  t.true(Object.isFrozen(config));
  t.true(Object.isFrozen(config.apps[0]!.allow.components));
});

test('a token file other users could read, or its group could write, is refused; one readable by the agent alone is not', async (t) => {
  const dir = await tempDir();
  const config = (file: string): string => `version: 1\napps:\n  - { id: demo, tokenFile: ${file} }\n`;
  for (const [name, mode] of [['world.token', 0o644], ['group-write.token', 0o620], ['other-write.token', 0o602]] as const) {
    await writeFile(path.join(dir, name), 'demo-token-0123456789\n', { mode });
    await chmod(path.join(dir, name), mode);
    const found = await problems(config(path.join(dir, name)));
    t.is(found.length, 1, name);
    t.regex(found[0] ?? '', /^apps\[0\]\.tokenFile: .* (is accessible to other users|is writable by its group)/, name);
  }
  for (const [name, mode] of [['private.token', 0o600], ['own-group.token', 0o640]] as const) {
    await writeFile(path.join(dir, name), 'demo-token-0123456789\n', { mode });
    await chmod(path.join(dir, name), mode);
    await t.notThrowsAsync(parseConfig(config(path.join(dir, name)), path.join(dir, 'h.yaml')), name);
  }
  // Its owner can read and swap it whatever the mode: another user's file is refused (as root, chown shows it).
  if (process.getuid?.() === 0) {
    const foreign = path.join(dir, 'foreign.token');
    await writeFile(foreign, 'demo-token-0123456789\n', { mode: 0o600 });
    await chown(foreign, 4242, 0);
    const found = await problems(config(foreign));
    t.regex(found[0] ?? '', /^apps\[0\]\.tokenFile: .* belongs to user 4242, neither the agent's user \(0\) nor root/);
  }
});

test('two apps with one token are refused, whether given as token, tokenFile or tokenSha256', async (t) => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'a.token'), 'shared-token-0123456789\n', { mode: 0o600 });
  const found = await problems(`version: 1\napps:\n  - { id: a, tokenFile: ${path.join(dir, 'a.token')} }\n  - { id: b, token: shared-token-0123456789 }\n  - { id: c, tokenSha256: ${hashToken('shared-token-0123456789')} }\n`);
  t.deepEqual(found, ['apps[1]: app "b" has the same token as app "a"; every app needs its own', 'apps[2]: app "c" has the same token as app "a"; every app needs its own']);
});

test('tokens are kept only as sha256, from token, tokenFile or tokenSha256', async (t) => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'other.token'), 'other-token\n', { mode: 0o600 });
  await writeFile(
    path.join(dir, 'h.yaml'),
    `version: 1
apps:
  - { id: demo, token: demo-token }
  - { id: other, tokenFile: other.token }
  - { id: third, tokenSha256: ${hashToken('third-token')} }
`,
  );
  const config = await loadConfig(path.join(dir, 'h.yaml'));
  t.deepEqual(
    config.apps.map((a) => a.tokenSha256),
    [hashToken('demo-token'), hashToken('other-token'), hashToken('third-token')],
  );
  t.false(JSON.stringify(config).includes('demo-token'), 'the clear token is not kept');
});

test('HEARTH_RUN_DIR and HEARTH_STATE_DIR override the file', async (t) => {
  const config = await parseConfig(minimal, '/etc/hearth/test.yaml', {
    env: { HEARTH_RUN_DIR: '/run/x', HEARTH_STATE_DIR: '/var/lib/x' },
  });
  t.is(config.runDir, '/run/x');
  t.is(config.stateDir, '/var/lib/x');
});

test('${ENV} and ${ENV:-default} are substituted; an unset variable is an error naming its path', async (t) => {
  const text = `${minimal}components:
  - name: default
    type: state.sqlite
    metadata: { path: "\${DB_DIR}/h.db", mode: "\${MODE:-wal}" }
`;
  const config = await parseConfig(text, '/etc/hearth/test.yaml', { env: { DB_DIR: '/srv' } });
  t.deepEqual(config.components[0]!.metadata, { path: '/srv/h.db', mode: 'wal' });
  t.deepEqual(await problems(text), ['components[0].metadata.path: environment variable DB_DIR is not set']);
});

test('every problem is reported at once, each with its path', async (t) => {
  const found = await problems(`
version: 1
workers: 0
bogus: true
limits: { maxBodyBytes: 10 }
apps:
  - id: Demo_App
    token: short
    allow: { components: [nope] }
  - id: other
components:
  - { name: default, type: cache.memory }
`);
  t.true(found.includes('bogus: unknown key'));
  t.true(found.includes('workers: must be >= 1'));
  t.true(found.includes('limits.maxBodyBytes: must be >= 1024'));
  t.true(found.some((p) => p.startsWith('apps[0].id: must match pattern')));
  t.true(found.includes('apps[0].token: must NOT have fewer than 8 characters'));
  t.true(found.some((p) => p.startsWith('components[0].type: must be one of')));
});

test('semantic problems: duplicates, missing token, unknown component in allow, socket path too long', async (t) => {
  const longDir = `/tmp/${'x'.repeat(100)}`;
  const found = await problems(`
version: 1
runDir: ${longDir}
apps:
  - { id: demo, token: demo-token, allow: { components: [missing] } }
  - { id: demo, token: demo-token }
  - { id: other }
components:
  - { name: default, type: state.sqlite }
  - { name: default, type: state.sqlite }
`);
  t.true(found.includes('apps[1].id: duplicate app id "demo"'));
  t.true(found.includes('apps[2]: exactly one of token, tokenFile, tokenSha256 is required (found 0)'));
  t.true(found.includes('apps[0].allow.components[0]: no component named "missing"'));
  t.true(found.includes('components[1].name: duplicate state component "default"'));
  t.true(found.some((p) => p.startsWith('runDir: socket path') && p.includes('allow 107')));
});

test('broken files: invalid YAML, half-written file, not a mapping, wrong version, unreadable', async (t) => {
  t.regex((await problems('version: 1\napps: [\n'))[0]!, /^not valid YAML/);
  t.regex((await problems('version: 1\napps:\n  - id: demo\n    token: "demo-to'))[0]!, /^not valid YAML/);
  t.deepEqual(await problems('- a\n- b\n'), ['(root): must be a mapping with at least `version` and `apps`']);
  t.deepEqual(await problems(''), ['(root): must be a mapping with at least `version` and `apps`']);
  t.deepEqual(await problems('version: 99\napps: []\n'), ['version: must be one of [1]']);
  t.true((await problems('apps: []\n')).includes('version: is required'));
  const err = await t.throwsAsync(loadConfig('/nonexistent/hearth.yaml'), { instanceOf: ConfigError });
  t.regex(err?.problems[0] ?? '', /^cannot read file/);
  t.is(err?.code, 'HEARTH_ERR_CONFIG_INVALID');
});

test('duplicate YAML keys are refused rather than silently overwritten', async (t) => {
  t.regex((await problems('version: 1\nversion: 1\napps: []\n'))[0]!, /^not valid YAML/);
});

test('upgrade settings have defaults; publicKeyFile resolves against the file', async (t) => {
  const config = await parseConfig(`${minimal}upgrade: { publicKeyFile: keys/hearth.pub, drainTimeoutMs: 5000 }\n`, '/etc/hearth/test.yaml');
  t.is(config.upgrade.publicKeyFile, '/etc/hearth/keys/hearth.pub');
  t.is(config.upgrade.drainTimeoutMs, 5000);
  t.is(config.upgrade.keepVersions, 3);
  t.is(config.upgrade.memoryHeadroom, 1.5);
  t.is(config.adminTcp, undefined);
});

test('artifact source limits: none by default; file dirs resolve against the file; the root, bad hosts and bad counts are refused', async (t) => {
  const defaults = await parseConfig(minimal, '/etc/hearth/test.yaml');
  t.deepEqual(defaults.upgrade.allowedFileDirs, []);
  t.deepEqual(defaults.upgrade.allowedRedirectHosts, []);
  t.is(defaults.upgrade.maxRedirects, 5);
  const set = await parseConfig(
    `${minimal}upgrade: { allowedFileDirs: [releases, /srv/hearth], allowedRedirectHosts: [cdn.example.com, '*.blob.example.net', 10.0.0.5, '[::1]'], maxRedirects: 0 }\n`,
    '/etc/hearth/test.yaml',
  );
  t.deepEqual(set.upgrade.allowedFileDirs, ['/etc/hearth/releases', '/srv/hearth']);
  t.deepEqual(set.upgrade.allowedRedirectHosts, ['cdn.example.com', '*.blob.example.net', '10.0.0.5', '[::1]']);
  t.is(set.upgrade.maxRedirects, 0);
  t.deepEqual(await problems(`${minimal}upgrade: { allowedFileDirs: [/] }\n`), [
    'upgrade.allowedFileDirs[0]: / is the filesystem root; name the directory that holds the artifacts',
  ]);
  t.deepEqual(await problems(`${minimal}upgrade: { allowedFileDirs: [''] }\n`), ['upgrade.allowedFileDirs[0]: must NOT have fewer than 1 characters']);
  for (const host of ['https://cdn.example.com', 'cdn.example.com:443', '*', 'a.*.example.com', 'cdn.example.com/path']) {
    const found = await problems(`${minimal}upgrade: { allowedRedirectHosts: ['${host}'] }\n`);
    t.is(found.length, 1, host);
    t.regex(found[0] ?? '', /^upgrade\.allowedRedirectHosts\[0\]: must match pattern/, host);
  }
  t.deepEqual(await problems(`${minimal}upgrade: { maxRedirects: 21 }\n`), ['upgrade.maxRedirects: must be <= 20']);
});

test('the admin TCP listener needs exactly one token, kept only as its hash', async (t) => {
  const config = await parseConfig(
    `${minimal}admin: { tcp: { port: 7070, token: fleet-manager-token-1 } }\n`,
    '/etc/hearth/test.yaml',
  );
  t.deepEqual(config.adminTcp, { host: '127.0.0.1', port: 7070, tokenSha256: hashToken('fleet-manager-token-1') });
  t.deepEqual(await problems(`${minimal}admin: { tcp: { port: 7070 } }\n`), [
    'admin.tcp: exactly one of token, tokenFile, tokenSha256 is required (found 0)',
  ]);
  t.deepEqual(await problems(`${minimal}admin: { tcp: { port: 70000, token: fleet-manager-token-1 } }\n`), [
    'admin.tcp.port: must be <= 65535',
  ]);
});

const siblingTls = 'tls: { certFile: ./agent.crt, keyFile: ./agent.key, caFile: ./ca.crt }';

test('siblings.listen needs the cluster token, even under mutual TLS: a client certificate is no agent identity', async (t) => {
  const listen = `listen: { host: 127.0.0.1, port: 7443 }`;
  const mtls = 'tls: { certFile: ./agent.crt, keyFile: ./agent.key, caFile: ./ca.crt, requireClientCert: true }';
  const expected = ['siblings: a cluster token (token, tokenFile or tokenSha256) is required when siblings.listen is set (it alone authenticates sibling agents)'];
  t.deepEqual(await problems(`${minimal}siblings: { ${listen}, ${siblingTls} }\n`), expected);
  t.deepEqual(await problems(`${minimal}siblings: { ${listen}, ${mtls} }\n`), expected);
  const ok = await parseConfig(`${minimal}siblings: { ${listen}, ${mtls}, token: cluster-token-0123456789abcdef0123456789 }\n`, '/etc/hearth/test.yaml');
  t.true(ok.siblings.tls?.requireClientCert);
  t.is(ok.siblings.clusterTokenSha256, hashToken('cluster-token-0123456789abcdef0123456789'));
});

test('the sibling port\'s limits have defaults from the schema', async (t) => {
  const s = (await parseConfig(minimal, '/etc/hearth/test.yaml')).siblings;
  t.like(s, { handshakeTimeoutMs: 5_000, signInTimeoutMs: 10_000, maxConnections: 1_024, maxConnectionsPerAddress: 64, maxAuthFailures: 3 });
  const lowered = await parseConfig(`${minimal}siblings: { handshakeTimeoutMs: 1000, maxConnectionsPerAddress: 8, maxAuthFailures: 1 }\n`, '/etc/hearth/test.yaml');
  t.like(lowered.siblings, { handshakeTimeoutMs: 1_000, maxConnectionsPerAddress: 8, maxAuthFailures: 1 });
  t.deepEqual(await problems(`${minimal}siblings: { handshakeTimeoutMs: 0, maxConnectionsPerAddress: 0 }\n`), [
    'siblings.handshakeTimeoutMs: must be >= 100',
    'siblings.maxConnectionsPerAddress: must be >= 1',
  ]);
});

test('tokens on the network: the cluster token needs 32 characters, in the file too', async (t) => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'cluster.token'), 'cluster-token-0123456789abcdef\n', { mode: 0o600 }); // 30
  const listen = `listen: { host: 127.0.0.1, port: 7443 }, ${siblingTls}`;
  t.deepEqual(await problems(`${minimal}siblings: { ${listen}, token: cluster-token-0123456789abcdef }\n`), [
    'siblings.token: must NOT have fewer than 32 characters',
  ]);
  const fromFile = `${minimal}siblings: { ${listen}, tokenFile: ${path.join(dir, 'cluster.token')} }\n`;
  t.deepEqual(await problems(fromFile), [`siblings.tokenFile: token in ${path.join(dir, 'cluster.token')} is shorter than 32 characters`]);
});

test('tokens on the network: with siblings.listen, a short app token is a warning, the cluster token a problem; a shared one always is', async (t) => {
  const listen = `siblings: { listen: { host: 127.0.0.1, port: 7443 }, ${siblingTls}, token: cluster-token-0123456789abcdef0123456789 }\n`;
  const long = 'demo-token-0123456789abcdef0123456789';
  // demo-token (10 characters) still works on demo's sockets; the sibling port will refuse it.
  const short = await parseConfig(`${minimal}${listen}`, '/etc/hearth/test.yaml');
  t.deepEqual(short.warnings, [
    'apps[0].token: app "demo" has a 10-character token; the sibling port accepts app tokens of at least 32 characters, so it cannot fail over to this agent (its own sockets are unaffected)',
  ]);
  // Without a listener nothing is said; a tokenSha256 cannot be measured (the port checks the token presented).
  t.deepEqual((await parseConfig(minimal, '/etc/hearth/test.yaml')).warnings, []);
  const hashed = `version: 1\napps:\n  - { id: demo, tokenSha256: ${hashToken('short')} }\n${listen}`;
  t.deepEqual((await parseConfig(hashed, '/etc/hearth/test.yaml')).warnings, []);
  const shared = `version: 1\napps:\n  - { id: a, token: ${long} }\n  - { id: b, tokenSha256: ${hashToken(long)} }\n`;
  // Two apps sharing a token are refused with or without a listener: either could sign in as the other.
  t.deepEqual(await problems(`${shared}${listen}`), ['apps[1]: app "b" has the same token as app "a"; every app needs its own']);
  t.deepEqual(await problems(shared), ['apps[1]: app "b" has the same token as app "a"; every app needs its own']);
  const cluster = `version: 1\napps:\n  - { id: a, token: cluster-token-0123456789abcdef0123456789 }\n`;
  t.deepEqual(await problems(`${cluster}${listen}`), [
    'apps[0].token: app "a" has the cluster token as its token; on the sibling port that token makes its holder an agent',
  ]);
});

test('siblings.tls.requireClientCert needs tls.caFile to verify client certificates against', async (t) => {
  const noCa = 'tls: { certFile: ./agent.crt, keyFile: ./agent.key, requireClientCert: true }';
  t.deepEqual(await problems(`${minimal}siblings: { listen: { host: 127.0.0.1, port: 7443 }, ${noCa}, token: cluster-token-0123456789abcdef0123456789 }\n`), [
    'siblings.tls.caFile: is required when siblings.tls.requireClientCert is true (client certificates are verified against it)',
  ]);
  // Also on an agent that only dials siblings (no listen): the setting is meaningless without a CA.
  t.deepEqual(await problems(`${minimal}siblings: { ${noCa} }\n`), [
    'siblings.tls.caFile: is required when siblings.tls.requireClientCert is true (client certificates are verified against it)',
  ]);
});

test('app channels and TCP ports: non-loopback channels need appToken, ports stay on this host and are not shared', async (t) => {
  const found = await problems(`
version: 1
apps:
  - { id: a, token: a-token-0123, channel: { address: "10.9.8.7:3000" }, tcp: { httpPort: 3500 } }
  - { id: b, token: b-token-0123, channel: { address: "10.9.8.7:3000", appToken: "a-long-channel-secret" }, tcp: { httpPort: 3500 } }
  - { id: c, token: c-token-0123, channel: { address: "localhost:3000" }, tcp: { host: 203.0.113.9, httpPort: 3501 } }
  - { id: d, token: d-token-0123, channel: { address: "127.0.0.1:70000" } }
`);
  t.true(found.some((p) => p.startsWith('apps[0].channel: address 10.9.8.7:3000 is not on loopback; set apps[0].channel.appToken')), found.join('\n'));
  t.false(found.some((p) => p.startsWith('apps[1].channel') || p.startsWith('apps[2].channel')), found.join('\n'));
  t.true(found.includes('apps[1].tcp.httpPort: 127.0.0.1:3500 is already app "a"\'s'), found.join('\n'));
  t.true(found.some((p) => p.startsWith('apps[2].tcp.host: 203.0.113.9 is neither loopback nor an address of this host')), found.join('\n'));
  t.true(found.some((p) => p.startsWith('apps[3].channel.address: port 70000 is not a TCP port')), found.join('\n'));
});

test('an app channel address that is neither unix:/absolute nor host:port is refused by the schema', async (t) => {
  for (const address of ['unix:relative/path.sock', 'no-port-here', 'http://127.0.0.1:3000']) {
    const found = await problems(`
version: 1
apps:
  - { id: a, token: a-token-0123, channel: { address: "${address}" } }
`);
    t.true(found.some((p) => p.startsWith('apps[0].channel.address:')), `${address}: ${found.join('\n')}`);
  }
});

test('an app channel and a TCP port, valid: defaults filled in', async (t) => {
  const config = await parseConfig(`
version: 1
apps:
  - { id: a, token: a-token-0123, channel: { address: "unix:/run/a/http.sock" }, tcp: { httpPort: 3500 } }
`, '/etc/hearth/test.yaml', { env: {} });
  const app = config.apps[0];
  t.deepEqual(app?.channel, { address: 'unix:/run/a/http.sock', protocol: 'http', maxConcurrency: 64, timeoutMs: 60_000, healthIntervalMs: 5_000 });
  t.deepEqual(app?.tcp, { host: '127.0.0.1', httpPort: 3500 });
});
