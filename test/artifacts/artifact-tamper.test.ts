// Tampered artifacts are refused with their code, and after each refusal nothing is installed,
// no `.tmp-*` is left and nothing was written outside the temp dirs. Crafted archives are written
// header by header with node-tar; checksum and signature cases use a real packaged artifact.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import {
  assertInstalledExactly,
  buildArtifact,
  craftArchive,
  makeStore,
  manifestFor,
  miniArtifact,
  miniEntries,
  noProgress,
  repoDist,
  sha256Of,
  tempDir,
  writeArtifact,
  type BuiltArtifact,
  type CraftEntry,
} from './artifact-helpers.js';
import type { UpgradeConfig } from '../../agent/config/config-schema.js';
import { extractArtifact, inspectArtifact } from '../../ops-agent/artifacts/artifact-unpack.js';

let built: BuiltArtifact | undefined;
let keys: { dir: string; pub: string; key: string; otherPub: string; otherKey: string } | undefined;

function script(name: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(repoDist, 'scripts', `${name}.js`), ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${name}: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

test.before(async () => {
  built = await buildArtifact();
  const dir = await tempDir('hx-keys-');
  await script('generate-keypair', ['--out', path.join(dir, 'a')]);
  await script('generate-keypair', ['--out', path.join(dir, 'b')]);
  keys = {
    dir,
    key: path.join(dir, 'a', 'hearth-signing.key'),
    pub: path.join(dir, 'a', 'hearth-signing.pub'),
    otherKey: path.join(dir, 'b', 'hearth-signing.key'),
    otherPub: path.join(dir, 'b', 'hearth-signing.pub'),
  };
});
test.after.always(async () => {
  if (built) await rm(built.dir, { recursive: true, force: true });
  if (keys) await rm(keys.dir, { recursive: true, force: true });
});
const art = (): BuiltArtifact => built as BuiltArtifact;
const k = (): NonNullable<typeof keys> => keys as NonNullable<typeof keys>;

async function signWith(t: ExecutionContext, key: string, file: string): Promise<string> {
  const out = path.join(await tempDirFor(t), 'a.sig');
  await script('sign-artifact', ['--key', key, '--artifact', file, '--out', out]);
  return readFile(out, 'utf8');
}

async function tempDirFor(t: ExecutionContext): Promise<string> {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Installs and expects `code`; then nothing is installed and nothing escaped. */
async function refused(t: ExecutionContext, entries: readonly CraftEntry[], code: string, message: RegExp, config: Partial<UpgradeConfig> = {}): Promise<void> {
  const { dir, stateDir, store } = await makeStore(t, config);
  const a = await writeArtifact(dir, 'crafted.tgz', craftArchive(entries));
  const err = await t.throwsAsync(store.install({ source: a.file, sha256: a.sha256 }, noProgress));
  t.is((err as { code?: string } | undefined)?.code, code, err?.message);
  t.regex(err?.message ?? '', message);
  await assertInstalledExactly(t, stateDir, [], dir);
  // The source file is ours; only the copy under downloads/ is removed.
  t.true(existsSync(a.file));
  t.false(existsSync(path.join(stateDir, 'downloads', `${a.sha256}.tgz`)));
}

// ---- checksum and signature (verified before anything is unpacked) ----

test('a wrong sha256 is refused, naming the expected digest only', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { allowedFileDirs: [art().dir] });
  const err = await t.throwsAsync(store.install({ source: art().file, sha256: sha256Of(Buffer.from('other')) }, noProgress));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_ARTIFACT_CHECKSUM');
  t.regex(err?.message ?? '', new RegExp(`expected ${sha256Of(Buffer.from('other'))}$`));
  t.false(err?.message.includes(art().sha256), 'the real digest is not told');
  await assertInstalledExactly(t, stateDir, [], dir);
});

test('one flipped bit in the archive fails the checksum', async (t) => {
  const { dir, stateDir, store } = await makeStore(t);
  const bytes = Buffer.from(await readFile(art().file));
  const at = Math.floor(bytes.length / 3);
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  const flipped = await writeArtifact(dir, 'flipped.tgz', bytes);
  const err = await t.throwsAsync(store.install({ source: flipped.file, sha256: art().sha256 }, noProgress));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_ARTIFACT_CHECKSUM');
  await assertInstalledExactly(t, stateDir, [], dir);
});

test('with a public key configured: signed installs, missing / malformed / other-key / wrong-artifact signatures are refused', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { publicKeyFile: k().pub });
  const a = await miniArtifact(dir, '4.0.0');
  const b = await miniArtifact(dir, '4.0.1');
  const cases: [string, string | undefined, RegExp][] = [
    ['missing', undefined, /missing/],
    ['malformed', 'not base64!', /malformed/],
    ['short', Buffer.alloc(32).toString('base64'), /malformed/],
    ['other key', await signWith(t, k().otherKey, a.file), /does not verify/],
    ['other artifact', await signWith(t, k().key, b.file), /does not verify/],
  ];
  for (const [what, signature, message] of cases) {
    const err = await t.throwsAsync(store.install({ source: a.file, sha256: a.sha256, ...(signature === undefined ? {} : { signature }) }, noProgress));
    t.is((err as { code?: string }).code, 'HEARTH_ERR_ARTIFACT_SIGNATURE', what);
    t.regex(err?.message ?? '', message, what);
    await assertInstalledExactly(t, stateDir, [], dir);
  }
  const v = await store.install({ source: a.file, sha256: a.sha256, signature: await signWith(t, k().key, a.file) }, noProgress);
  t.is(v.version, '4.0.0');
  await assertInstalledExactly(t, stateDir, ['4.0.0'], dir);
});

test('the signature covers the real artifact, and a signature without a configured key is refused', async (t) => {
  const signature = await signWith(t, k().key, art().file);
  const keyless = await makeStore(t, { allowedFileDirs: [art().dir] });
  const err = await t.throwsAsync(keyless.store.install({ source: art().file, sha256: art().sha256, signature }, noProgress));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_ARTIFACT_SIGNATURE');
  t.regex(err?.message ?? '', /no upgrade\.publicKeyFile is configured/);
  await assertInstalledExactly(t, keyless.stateDir, [], keyless.dir);
  const badKey = await makeStore(t, { publicKeyFile: path.join(keyless.dir, 'missing.pub'), allowedFileDirs: [art().dir] });
  const missingKey = await t.throwsAsync(badKey.store.install({ source: art().file, sha256: art().sha256, signature }, noProgress));
  t.is((missingKey as { code?: string }).code, 'HEARTH_ERR_CONFIG_INVALID');
});

// ---- unsafe entries ----

test('an entry ../evil is refused', async (t) => {
  await refused(t, miniEntries('5.0.0', [{ path: '../evil', data: 'x' }]), 'HEARTH_ERR_ARTIFACT_UNSAFE', /"\.\.\/evil".*"\.\." path segment/);
});

test('an entry dist/../../evil is refused', async (t) => {
  await refused(t, miniEntries('5.0.1', [{ path: 'dist/../../evil', data: 'x' }]), 'HEARTH_ERR_ARTIFACT_UNSAFE', /dist\/\.\.\/\.\.\/evil/);
});

test('an absolute path is refused and nothing is written there', async (t) => {
  const target = path.join(path.dirname(await tempDirFor(t)), `hearth-evil-${process.pid}-${Date.now()}`);
  await refused(t, miniEntries('5.0.2', [{ path: target, data: 'x' }]), 'HEARTH_ERR_ARTIFACT_UNSAFE', /absolute path/);
  t.false(existsSync(target));
});

test('a symlink pointing out is refused', async (t) => {
  await refused(t, miniEntries('5.0.3', [{ path: 'link', type: 'SymbolicLink', linkpath: '../../etc' }]), 'HEARTH_ERR_ARTIFACT_UNSAFE', /symlink "link" points outside/);
});

test('an absolute symlink is refused', async (t) => {
  await refused(t, miniEntries('5.0.4', [{ path: 'dist/evil-link', type: 'SymbolicLink', linkpath: '/etc/passwd' }]), 'HEARTH_ERR_ARTIFACT_UNSAFE', /absolute path "\/etc\/passwd"/);
});

test('a symlink that escapes only through another symlink is refused', async (t) => {
  // d/up → .. is the root (fine alone); esc → d/up/.. is `d` lexically but the root's parent for real.
  const entries = miniEntries('5.0.5', [
    { path: 'd/', type: 'Directory' },
    { path: 'd/up', type: 'SymbolicLink', linkpath: '..' },
    { path: 'esc', type: 'SymbolicLink', linkpath: 'd/up/..' },
  ]);
  await refused(t, entries, 'HEARTH_ERR_ARTIFACT_UNSAFE', /symlink "esc" resolves outside the artifact through other links/);
});

test('a file beneath a symlink is refused', async (t) => {
  const entries = miniEntries('5.0.6', [
    { path: 'dist/inner', type: 'SymbolicLink', linkpath: 'agent' },
    { path: 'dist/inner/evil.js', data: 'x' },
  ]);
  await refused(t, entries, 'HEARTH_ERR_ARTIFACT_UNSAFE', /beneath the symlink "dist\/inner"/);
});

test('a hard link is refused', async (t) => {
  await refused(t, miniEntries('5.0.7', [{ path: 'hard', type: 'Link', linkpath: 'manifest.json' }]), 'HEARTH_ERR_ARTIFACT_UNSAFE', /"hard" is a hard link/);
});

test('a character device is refused', async (t) => {
  await refused(t, miniEntries('5.0.8', [{ path: 'dev-null', type: 'CharacterDevice' }]), 'HEARTH_ERR_ARTIFACT_UNSAFE', /device file/);
});

test('a block device is refused', async (t) => {
  await refused(t, miniEntries('5.0.9', [{ path: 'disk', type: 'BlockDevice' }]), 'HEARTH_ERR_ARTIFACT_UNSAFE', /device file/);
});

test('a FIFO is refused', async (t) => {
  await refused(t, miniEntries('5.1.0', [{ path: 'pipe', type: 'FIFO' }]), 'HEARTH_ERR_ARTIFACT_UNSAFE', /FIFO/);
});

test('a duplicate path is refused', async (t) => {
  await refused(t, miniEntries('5.1.1', [{ path: 'dist/agent/main.js', data: 'require("child_process")' }]), 'HEARTH_ERR_ARTIFACT_UNSAFE', /appears more than once/);
});

test('more entries than maxArtifactEntries are refused', async (t) => {
  const many = Array.from({ length: 30 }, (_, i): CraftEntry => ({ path: `dist/f${i}.js`, data: '' }));
  await refused(t, miniEntries('5.1.2', many), 'HEARTH_ERR_ARTIFACT_UNSAFE', /more than 20 entries/, { maxArtifactEntries: 20 });
});

test('more bytes than maxUnpackedBytes are refused', async (t) => {
  const big: CraftEntry[] = [{ path: 'dist/big.bin', data: Buffer.alloc(256 * 1024) }];
  await refused(t, miniEntries('5.1.3', big), 'HEARTH_ERR_ARTIFACT_UNSAFE', /more than 65536 bytes unpacked/, { maxUnpackedBytes: 64 * 1024 });
});

test('not a gzip file, or not a tar inside, is invalid', async (t) => {
  const { dir, stateDir, store } = await makeStore(t);
  const junk = await writeArtifact(dir, 'junk.tgz', Buffer.from('this is not an archive'));
  const err = await t.throwsAsync(store.install({ source: junk.file, sha256: junk.sha256 }, noProgress));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_ARTIFACT_INVALID');
  const notTar = await writeArtifact(dir, 'nottar.tgz', gzipSync(Buffer.alloc(2048, 65)));
  const err2 = await t.throwsAsync(store.install({ source: notTar.file, sha256: notTar.sha256 }, noProgress));
  t.is((err2 as { code?: string }).code, 'HEARTH_ERR_ARTIFACT_INVALID', err2?.message);
  await assertInstalledExactly(t, stateDir, [], dir);
});

// ---- manifest ----

test('no manifest is invalid', async (t) => {
  const entries = miniEntries('6.0.0').filter((e) => e.path !== 'manifest.json');
  await refused(t, entries, 'HEARTH_ERR_ARTIFACT_INVALID', /no manifest\.json/);
});

test('a malformed manifest is invalid, naming the field', async (t) => {
  await refused(t, miniEntries('6.0.1', [], manifestFor('6.0.1', { nodeAbi: 'abc' })), 'HEARTH_ERR_ARTIFACT_INVALID', /nodeAbi: must be integer/);
  await refused(t, miniEntries('6.0.2', [], '{not json'), 'HEARTH_ERR_ARTIFACT_INVALID', /not valid JSON/);
  await refused(t, miniEntries('6.0.3', [], manifestFor('../6.0.3')), 'HEARTH_ERR_ARTIFACT_INVALID', /version: must match pattern/);
});

test('a manifest whose entry point is missing, or whose version disagrees with package.json, is invalid', async (t) => {
  const noWorker = miniEntries('6.1.0').filter((e) => e.path !== 'dist/agent/main.js');
  await refused(t, noWorker, 'HEARTH_ERR_ARTIFACT_INVALID', /entry\.worker dist\/agent\/main\.js is not a file/);
  await refused(t, miniEntries('6.1.1', [], manifestFor('6.1.2')), 'HEARTH_ERR_ARTIFACT_INVALID', /says version 6\.1\.2 but package\.json says 6\.1\.1/);
});

test('an incompatible manifest is refused naming the mismatch: Node ABI, protocol, platform, arch', async (t) => {
  const abi = Number(process.versions.modules);
  await refused(t, miniEntries('7.0.0', [], manifestFor('7.0.0', { nodeAbi: abi + 12 })), 'HEARTH_ERR_ARTIFACT_INCOMPATIBLE', new RegExp(`built for Node ABI ${abi + 12}, this agent runs ${abi}`));
  await refused(t, miniEntries('7.0.1', [], manifestFor('7.0.1', { protocol: 99 })), 'HEARTH_ERR_ARTIFACT_INCOMPATIBLE', /hand-off protocol 99, this agent supports 1/);
  const other = process.platform === 'win32' ? 'linux' : 'win32';
  await refused(t, miniEntries('7.0.2', [], manifestFor('7.0.2', { platform: other })), 'HEARTH_ERR_ARTIFACT_INCOMPATIBLE', new RegExp(`platform ${other}`));
  const arch = process.arch === 'arm64' ? 'x64' : 'arm64';
  await refused(t, miniEntries('7.0.3', [], manifestFor('7.0.3', { arch })), 'HEARTH_ERR_ARTIFACT_INCOMPATIBLE', new RegExp(`built for ${arch}`));
});

test('a refusal leaves previously installed versions alone', async (t) => {
  const { dir, stateDir, store } = await makeStore(t);
  const good = await miniArtifact(dir, '8.0.0');
  await store.install({ source: good.file, sha256: good.sha256 }, noProgress);
  const bad = await writeArtifact(dir, 'bad.tgz', craftArchive(miniEntries('8.0.1', [{ path: '../evil', data: 'x' }])));
  const err = await t.throwsAsync(store.install({ source: bad.file, sha256: bad.sha256 }, noProgress));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_ARTIFACT_UNSAFE');
  await assertInstalledExactly(t, stateDir, ['8.0.0'], dir);
  t.deepEqual((await store.list()).map((v) => v.version), ['8.0.0']);
});

test('a symlink that stays inside is installed as a symlink', async (t) => {
  const { dir, stateDir, store } = await makeStore(t);
  const entries = miniEntries('8.1.0', [
    { path: 'bin/', type: 'Directory' },
    { path: 'bin/hearth', type: 'SymbolicLink', linkpath: '../dist/ops-agent/main.js' },
  ]);
  const a = await writeArtifact(dir, 'links.tgz', craftArchive(entries));
  const v = await store.install({ source: a.file, sha256: a.sha256 }, noProgress);
  t.is(await readlink(path.join(v.dir, 'bin', 'hearth')), '../dist/ops-agent/main.js');
  await assertInstalledExactly(t, stateDir, ['8.1.0'], dir);
});

test('pass 2 re-checks every entry: an archive swapped after the listing is refused by the extraction filter', async (t) => {
  const dir = await tempDirFor(t);
  const limits = { maxEntries: 1000, maxUnpackedBytes: 1024 * 1024 };
  const host = { platform: process.platform, arch: process.arch, nodeAbi: Number(process.versions.modules), protocol: [1] };
  const good = await writeArtifact(dir, 'good.tgz', craftArchive(miniEntries('8.2.0', [{ path: 'dist/x.js', data: 'x' }])));
  const swapped = await writeArtifact(dir, 'swapped.tgz', craftArchive(miniEntries('8.2.0', [{ path: '../evil', data: 'x' }])));
  const inspection = await inspectArtifact(good.file, limits, host);
  const target = path.join(dir, 'versions', '.tmp-8.2.0-test');
  await mkdir(path.dirname(target));
  const err = await t.throwsAsync(extractArtifact(swapped.file, target, inspection, limits));
  t.is((err as { code?: string }).code, 'HEARTH_ERR_ARTIFACT_UNSAFE');
  t.regex(err?.message ?? '', /\.\.\/evil/);
  t.deepEqual(await readdir(path.join(dir, 'versions')), ['.tmp-8.2.0-test'], 'nothing beside the temp dir');
  t.false(existsSync(path.join(dir, 'evil')));

  const renamed = await writeArtifact(dir, 'renamed.tgz', craftArchive(miniEntries('8.2.0', [{ path: 'dist/y.js', data: 'x' }])));
  const target2 = path.join(dir, 'versions', '.tmp-8.2.0-again');
  const err2 = await t.throwsAsync(extractArtifact(renamed.file, target2, inspection, limits));
  t.regex(err2?.message ?? '', /differs from the listing/);
});
