// What an install request may make the ops-agent read or reach (issue 12, hole 8): a signature is
// checked against the claimed sha256 before the source is touched (real loopback servers count
// the requests), a failed checksum tells nothing about what was read, local sources must lie in
// upgrade.allowedFileDirs after symlinks and `..` are resolved, and a download is redirected
// only to its own host or to upgrade.allowedRedirectHosts.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { signArtifactDigest } from '../../ops-agent/artifacts/artifact-signature.js';
import type { InstallProgress } from '../../ops-agent/artifacts/artifact-store.js';
import { assertInstalledExactly, makeStore, miniArtifact, noProgress, sendFile, serve, sha256Of, type StoreFixture } from './artifact-helpers.js';

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string } | undefined)?.code;
}

const KEY_FILE = 'signing.pub';

/** An ed25519 key pair, the public key written to `<dir>/signing.pub` (what upgrade.publicKeyFile names). */
async function signingKey(dir: string): Promise<(sha256: string) => string> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  await writeFile(path.join(dir, KEY_FILE), publicKey.export({ type: 'spki', format: 'pem' }));
  return (sha256) => signArtifactDigest(privateKey, sha256);
}

/** Well-formed (base64 of 64 bytes), signed by nobody. */
const DUMMY_SIGNATURE = Buffer.alloc(64, 1).toString('base64');

// ---- the checksum oracle ----

test('a wrong sha256 for an existing file reveals neither its digest nor its size', async (t) => {
  const { dir, stateDir, store } = await makeStore(t);
  // A size no progress line or duration would show by chance.
  const secret = Buffer.alloc(987_654, 'not an artifact, but a file someone wants to learn about\n');
  const file = path.join(dir, 'secret.txt');
  await writeFile(file, secret);
  const claimed = sha256Of(Buffer.from('a guess'));
  for (const source of [file, pathToFileURL(file).href]) {
    const progress: InstallProgress[] = [];
    const err = await t.throwsAsync(store.install({ source, sha256: claimed }, (p) => progress.push(p)));
    t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_CHECKSUM', source);
    const told = `${err?.message ?? ''}\n${JSON.stringify(progress)}`;
    t.true(told.includes(claimed), 'names the expected digest');
    t.false(told.includes(sha256Of(secret)), 'not the real digest');
    t.false(told.includes(String(secret.length)), 'not the size');
    t.deepEqual(progress.filter((p) => p.bytes !== undefined || p.total !== undefined), [], 'no byte counts before the sha256 matched');
  }
  await assertInstalledExactly(t, stateDir, [], dir);
});

test('a download whose sha256 does not match is refused without its real digest', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { downloadRetries: 0 });
  const body = Buffer.from('an internal page the caller cannot fetch itself\n'.repeat(100));
  const server = await serve(t, (req, res) => sendFile(req, res, body));
  const claimed = sha256Of(Buffer.from('a guess'));
  const err = await t.throwsAsync(store.install({ source: `${server.url}/internal`, sha256: claimed }, noProgress));
  t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_CHECKSUM');
  t.regex(err?.message ?? '', new RegExp(`expected ${claimed}$`));
  t.false(err?.message.includes(sha256Of(body)), 'not the real digest');
  await assertInstalledExactly(t, stateDir, [], dir);
});

// ---- the signature, before anything is fetched ----

test('with a public key, a missing, dummy or other-digest signature is refused before any request; a good one installs', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, (d) => ({ downloadRetries: 0, publicKeyFile: path.join(d, KEY_FILE) }));
  const sign = await signingKey(dir);
  const keyless = await makeStore(t, { downloadRetries: 0 });
  const a = await miniArtifact(dir, '11.0.0');
  const server = await serve(t, (req, res) => sendFile(req, res, a.bytes));
  const source = `${server.url}/a.tgz`;
  const cases: [string, string | undefined][] = [
    ['missing', undefined],
    ['dummy', DUMMY_SIGNATURE],
    ['malformed', 'not base64!'],
    ['signs another digest', sign(sha256Of(Buffer.from('another artifact')))],
  ];
  for (const [what, signature] of cases) {
    const err = await t.throwsAsync(store.install({ source, sha256: a.sha256, ...(signature === undefined ? {} : { signature }) }, noProgress));
    t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_SIGNATURE', what);
    t.is(server.requests.length, 0, `${what}: nothing fetched`);
  }
  t.false(existsSync(path.join(stateDir, 'downloads')), 'no download was even prepared');
  // A signature with no key configured is refused before any request too.
  const unverifiable = await t.throwsAsync(keyless.store.install({ source, sha256: a.sha256, signature: sign(a.sha256) }, noProgress));
  t.is(codeOf(unverifiable), 'HEARTH_ERR_ARTIFACT_SIGNATURE');
  t.is(server.requests.length, 0);
  await assertInstalledExactly(t, keyless.stateDir, [], keyless.dir);
  await assertInstalledExactly(t, stateDir, [], dir);

  // The same server is asked once the signature holds: the count above would have seen a request.
  const v = await store.install({ source, sha256: a.sha256, signature: sign(a.sha256) }, noProgress);
  t.is(v.version, '11.0.0');
  t.is(server.requests.length, 1);
});

test('with a public key, a dummy signature for a local source is refused without reading it: a missing file gets the same answer as an existing one', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, (d) => ({ publicKeyFile: path.join(d, KEY_FILE) }));
  await signingKey(dir);
  const a = await miniArtifact(dir, '11.1.0');
  const answers: { code: string | undefined; message: string | undefined }[] = [];
  for (const source of [a.file, path.join(dir, 'missing.tgz'), pathToFileURL(a.file).href, '/etc/passwd']) {
    const err = await t.throwsAsync(store.install({ source, sha256: a.sha256, signature: DUMMY_SIGNATURE }, noProgress));
    answers.push({ code: codeOf(err), message: err?.message });
  }
  t.is(answers[0]?.code, 'HEARTH_ERR_ARTIFACT_SIGNATURE');
  t.deepEqual(answers, answers.map(() => answers[0]), 'one answer whatever the source');
  t.false(existsSync(path.join(stateDir, 'downloads')), 'nothing was copied');
  await assertInstalledExactly(t, stateDir, [], dir);
});

// ---- local sources ----

/** Every source is HEARTH_ERR_ARTIFACT_SOURCE_FORBIDDEN, and nothing was copied or installed. */
async function allForbidden(t: ExecutionContext, fixture: StoreFixture, sources: readonly string[], sha256: string): Promise<void> {
  for (const source of sources) {
    const err = await t.throwsAsync(fixture.store.install({ source, sha256 }, noProgress));
    t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_SOURCE_FORBIDDEN', source);
  }
  t.false(existsSync(path.join(fixture.stateDir, 'downloads')), 'nothing was copied');
  await assertInstalledExactly(t, fixture.stateDir, [], fixture.dir);
}

test('local sources are refused when upgrade.allowedFileDirs is empty (the default)', async (t) => {
  const fixture = await makeStore(t, { allowedFileDirs: [] });
  const a = await miniArtifact(fixture.dir, '12.0.0');
  await allForbidden(t, fixture, [a.file, pathToFileURL(a.file).href, '/etc/passwd', path.join(fixture.dir, 'missing.tgz')], a.sha256);
});

test('a local source outside upgrade.allowedFileDirs is refused: plainly, through "..", through a symlinked file or directory', async (t) => {
  const fixture = await makeStore(t, (d) => ({ allowedFileDirs: [path.join(d, 'allowed')] }));
  const allowed = path.join(fixture.dir, 'allowed');
  const outside = path.join(fixture.dir, 'outside');
  await mkdir(allowed);
  await mkdir(outside);
  const a = await miniArtifact(outside, '12.1.0');
  await symlink(a.file, path.join(allowed, 'link.tgz'));
  await symlink(outside, path.join(allowed, 'sub'));
  const sources: readonly string[] = [
    a.file,
    `${allowed}/../outside/${path.basename(a.file)}`,
    `${pathToFileURL(allowed).href}/../outside/${path.basename(a.file)}`,
    `${pathToFileURL(allowed).href}/%2e%2e/outside/${path.basename(a.file)}`,
    path.join(allowed, 'link.tgz'),
    path.join(allowed, 'sub', path.basename(a.file)),
    path.join(outside, 'missing.tgz'),
    `${allowed}-sibling/a.tgz`,
    allowed,
  ];
  await allForbidden(t, fixture, sources, a.sha256);
});

test('a local source inside upgrade.allowedFileDirs installs, also through a symlink that stays inside or a listed directory that is a symlink', async (t) => {
  // The listed directory is a symlink to the real one; sources name either.
  const { dir, stateDir, store } = await makeStore(t, (d) => ({ allowedFileDirs: [path.join(d, 'releases')] }));
  const real = path.join(dir, 'releases-real');
  await mkdir(path.join(real, 'sub'), { recursive: true });
  await symlink(real, path.join(dir, 'releases'));
  const a = await miniArtifact(path.join(real, 'sub'), '12.2.0');
  await symlink(path.join('sub', path.basename(a.file)), path.join(real, 'latest.tgz'));
  await store.install({ source: path.join(dir, 'releases', 'latest.tgz'), sha256: a.sha256 }, noProgress);
  await store.install({ source: pathToFileURL(a.file).href, sha256: a.sha256 }, noProgress);
  t.deepEqual((await store.list()).map((v) => v.version), ['12.2.0']);
  const missing = await t.throwsAsync(store.install({ source: path.join(real, 'missing.tgz'), sha256: a.sha256 }, noProgress));
  t.is(codeOf(missing), 'HEARTH_ERR_ARTIFACT_DOWNLOAD', 'inside an allowed directory, a missing file may be told');
  t.true(existsSync(path.join(stateDir, 'versions', '12.2.0')));
});

// ---- redirects ----

test('a redirect to another host is refused and not followed, unless the host is in upgrade.allowedRedirectHosts', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { downloadRetries: 2 });
  const a = await miniArtifact(dir, '13.0.0');
  // Another loopback address: another host name for the same machine.
  const foreign = await serve(t, (req, res) => sendFile(req, res, a.bytes), '127.0.0.2');
  const source = await serve(t, (_req, res) => {
    res.writeHead(302, { location: `${foreign.url}/a.tgz?token=secret` });
    res.end();
  });
  const err = await t.throwsAsync(store.install({ source: `${source.url}/latest`, sha256: a.sha256 }, noProgress));
  t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_REDIRECT_FORBIDDEN');
  t.true(err?.message.includes(new URL(foreign.url).host), 'names the host');
  t.false(err?.message.includes('secret'), 'not the query');
  t.is(foreign.requests.length, 0, 'the foreign host was never asked');
  t.is(source.requests.length, 1, 'a refusal is not retried');
  await assertInstalledExactly(t, stateDir, [], dir);

  const trusting = await makeStore(t, { allowedRedirectHosts: ['127.0.0.2'] });
  const v = await trusting.store.install({ source: `${source.url}/latest`, sha256: a.sha256 }, noProgress);
  t.is(v.version, '13.0.0');
  t.is(foreign.requests.length, 1);
});

test('redirects are bounded by upgrade.maxRedirects, and never lead to a file: URL', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { maxRedirects: 1 });
  const a = await miniArtifact(dir, '13.1.0');
  const server = await serve(t, (req, res) => {
    const hops: Record<string, string> = { '/one': '/two', '/two': '/a.tgz', '/to-file': pathToFileURL(a.file).href };
    const next = hops[req.url ?? ''];
    if (next === undefined) return sendFile(req, res, a.bytes);
    res.writeHead(302, { location: next });
    res.end();
  });
  const twice = await t.throwsAsync(store.install({ source: `${server.url}/one`, sha256: a.sha256 }, noProgress));
  t.is(codeOf(twice), 'HEARTH_ERR_ARTIFACT_REDIRECT_FORBIDDEN');
  t.is(server.requests.length, 2, 'the second redirect was not followed');
  const toFile = await t.throwsAsync(store.install({ source: `${server.url}/to-file`, sha256: a.sha256 }, noProgress));
  t.is(codeOf(toFile), 'HEARTH_ERR_ARTIFACT_REDIRECT_FORBIDDEN');
  await assertInstalledExactly(t, stateDir, [], dir);
  // One redirect on the source's own host is within the bound.
  await store.install({ source: `${server.url}/two`, sha256: a.sha256 }, noProgress);
  await assertInstalledExactly(t, stateDir, ['13.1.0'], dir);
});
