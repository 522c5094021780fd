// Downloads over loopback HTTP: resume with Range after a dropped connection, size limits (from
// Content-Length and while streaming), truncation that never completes, HTTP errors, redirects,
// abort. One real packaged artifact for the resume case; small crafted ones elsewhere.
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { OpsError } from '../../ops-agent/ops-errors.js';
import {
  assertInstalledExactly,
  buildArtifact,
  makeStore,
  miniArtifact,
  noProgress,
  sendFile,
  sendTruncated,
  serve,
  TEST_VERSION,
  type BuiltArtifact,
} from './artifact-helpers.js';

let built: BuiltArtifact | undefined;
test.before(async () => {
  built = await buildArtifact();
});
test.after.always(async () => {
  if (built) await rm(built.dir, { recursive: true, force: true });
});

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string } | undefined)?.code;
}

test('a dropped connection is resumed with Range and the result verifies', async (t) => {
  const art = built as BuiltArtifact;
  const bytes = await readFile(art.file);
  const half = Math.floor(bytes.length / 2);
  const server = await serve(t, (req, res, attempt) => {
    if (attempt === 1) sendTruncated(res, bytes, half);
    else sendFile(req, res, bytes);
  });
  const { dir, stateDir, store } = await makeStore(t, { downloadRetries: 3 });
  const v = await store.install({ source: `${server.url}/${art.name}`, sha256: art.sha256 }, noProgress);
  t.is(v.version, TEST_VERSION);
  t.is(server.requests.length, 2);
  t.is(server.requests[0]?.range, undefined);
  const range = /^bytes=(\d+)-$/.exec(server.requests[1]?.range ?? '');
  t.truthy(range, `second request asks for the rest (range: ${server.requests[1]?.range ?? 'none'})`);
  const from = Number(range?.[1]);
  t.true(from > 0 && from <= half, `resumed from ${from}`);
  await assertInstalledExactly(t, stateDir, [TEST_VERSION], dir);
});

test('a 200 to a Range request restarts from zero', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { downloadRetries: 3 });
  const a = await miniArtifact(dir, '3.0.0', 256 * 1024);
  const server = await serve(t, (_req, res, attempt) => {
    if (attempt === 1) sendTruncated(res, a.bytes, 100 * 1024);
    else {
      res.writeHead(200, { 'content-length': a.bytes.length });
      res.end(a.bytes);
    }
  });
  await store.install({ source: `${server.url}/a.tgz`, sha256: a.sha256 }, noProgress);
  t.truthy(server.requests[1]?.range);
  await assertInstalledExactly(t, stateDir, ['3.0.0'], dir);
});

test('a failed install leaves its .part; the next install of the same sha256 resumes it', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { downloadRetries: 0 });
  const a = await miniArtifact(dir, '3.0.1', 256 * 1024);
  const server = await serve(t, (req, res, attempt) => {
    if (attempt === 1) sendTruncated(res, a.bytes, 100 * 1024);
    else sendFile(req, res, a.bytes);
  });
  const source = `${server.url}/a.tgz`;
  const err = await t.throwsAsync(store.install({ source, sha256: a.sha256 }, noProgress));
  t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_DOWNLOAD');
  t.regex(err?.message ?? '', /connection (closed|failed) after/);
  t.deepEqual(await readdir(path.join(stateDir, 'downloads')), [`${a.sha256}.part`]);
  await store.install({ source, sha256: a.sha256 }, noProgress);
  t.regex(server.requests[1]?.range ?? '', /^bytes=[1-9]\d*-$/);
  await assertInstalledExactly(t, stateDir, ['3.0.1'], dir);
  t.deepEqual(await readdir(path.join(stateDir, 'downloads')), []);
});

test('a server that stops sending times out (idle timeout) on every attempt', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { downloadRetries: 1, downloadTimeoutMs: 300 });
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': 1_000_000 });
    res.write(Buffer.alloc(1000));
  });
  const err = await t.throwsAsync(store.install({ source: `${server.url}/a.tgz`, sha256: 'f'.repeat(64) }, noProgress));
  t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_DOWNLOAD');
  t.regex(err?.message ?? '', /after 2 attempts: .*(idle|within)/);
  t.is(server.requests.length, 2);
  await assertInstalledExactly(t, stateDir, [], dir);
});

test('Content-Length over maxArtifactBytes is refused before the body is read', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { maxArtifactBytes: 64 * 1024 });
  const a = await miniArtifact(dir, '3.1.0', 128 * 1024);
  const server = await serve(t, (req, res) => sendFile(req, res, a.bytes));
  const err = await t.throwsAsync(store.install({ source: `${server.url}/a.tgz`, sha256: a.sha256 }, noProgress));
  t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_TOO_LARGE');
  t.is(server.requests.length, 1, 'not retried');
  await assertInstalledExactly(t, stateDir, [], dir);
  t.deepEqual(await readdir(path.join(stateDir, 'downloads')), [], 'no partial file kept');
});

test('a chunked response that grows past maxArtifactBytes is cut off', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { maxArtifactBytes: 64 * 1024 });
  let served = 0;
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(16 * 1024, 7);
    const pump = (): void => {
      // Endless unless the client hangs up; bounded so a broken client cannot hang the test.
      while (!res.destroyed && served < 64 * 1024 * 1024) {
        served += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const err = await t.throwsAsync(store.install({ source: `${server.url}/a.tgz`, sha256: 'a'.repeat(64) }, noProgress));
  t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_TOO_LARGE');
  t.true(served < 64 * 1024 * 1024, 'the client stopped reading');
  await assertInstalledExactly(t, stateDir, [], dir);
  t.deepEqual(await readdir(path.join(stateDir, 'downloads')), []);
});

test('a download that is always truncated fails with HEARTH_ERR_ARTIFACT_DOWNLOAD after the retries', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { downloadRetries: 2 });
  const a = await miniArtifact(dir, '3.2.0', 64 * 1024);
  // Ignores Range: every attempt sends the first half of the whole file and hangs up.
  const server = await serve(t, (_req, res) => sendTruncated(res, a.bytes, 32 * 1024));
  const err = await t.throwsAsync(store.install({ source: `${server.url}/a.tgz`, sha256: a.sha256 }, noProgress));
  t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_DOWNLOAD');
  t.regex(err?.message ?? '', /after 3 attempts/);
  t.is(server.requests.length, 3);
  await assertInstalledExactly(t, stateDir, [], dir);
});

test('HTTP errors: 404 fails at once, 503 is retried, the status is in the message', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { downloadRetries: 1 });
  const server = await serve(t, (req, res) => {
    res.writeHead(req.url === '/missing.tgz' ? 404 : 503);
    res.end();
  });
  const missing = await t.throwsAsync(store.install({ source: `${server.url}/missing.tgz`, sha256: 'b'.repeat(64) }, noProgress));
  t.is(codeOf(missing), 'HEARTH_ERR_ARTIFACT_DOWNLOAD');
  t.regex(missing?.message ?? '', /HTTP 404/);
  t.is(server.requests.length, 1);
  const busy = await t.throwsAsync(store.install({ source: `${server.url}/busy.tgz`, sha256: 'c'.repeat(64) }, noProgress));
  t.regex(busy?.message ?? '', /failed after 2 attempts: HTTP 503/);
  t.is(server.requests.length, 3);
  await assertInstalledExactly(t, stateDir, [], dir);
});

test('a refused connection names its errno; a redirect is followed', async (t) => {
  const { dir, stateDir, store } = await makeStore(t, { downloadRetries: 0 });
  // Nothing listens on port 1 of loopback (privileged, unused).
  const err = await t.throwsAsync(store.install({ source: 'http://127.0.0.1:1/a.tgz', sha256: 'd'.repeat(64) }, noProgress));
  t.is(codeOf(err), 'HEARTH_ERR_ARTIFACT_DOWNLOAD');
  t.regex(err?.message ?? '', /ECONNREFUSED/);

  const a = await miniArtifact(dir, '3.3.0');
  const server = await serve(t, (req, res) => {
    if (req.url === '/latest') {
      res.writeHead(302, { location: '/files/a.tgz' });
      res.end();
    } else sendFile(req, res, a.bytes);
  });
  await store.install({ source: `${server.url}/latest`, sha256: a.sha256 }, noProgress);
  await assertInstalledExactly(t, stateDir, ['3.3.0'], dir);
});

test('an aborted download stops with the abort reason code and installs nothing', async (t) => {
  const { dir, stateDir, store } = await makeStore(t);
  const a = await miniArtifact(dir, '3.4.0', 64 * 1024);
  const controller = new AbortController();
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': a.bytes.length });
    // Half now, the rest never: the abort ends it.
    res.write(a.bytes.subarray(0, 1024), () => controller.abort(new OpsError('HEARTH_ERR_DRAINING', 'the agent is shutting down')));
  });
  const err = await t.throwsAsync(store.install({ source: `${server.url}/a.tgz`, sha256: a.sha256 }, noProgress, controller.signal));
  t.is(codeOf(err), 'HEARTH_ERR_DRAINING');
  t.is(server.requests.length, 1);
  await assertInstalledExactly(t, stateDir, [], dir);
});

test('an abort during the unpack removes the temp dir and keeps the reason code', async (t) => {
  const { dir, stateDir, store } = await makeStore(t);
  const a = await miniArtifact(dir, '3.5.0', 512 * 1024);
  const controller = new AbortController();
  const err = await t.throwsAsync(
    store.install(
      { source: a.file, sha256: a.sha256 },
      (p) => {
        if (p.phase === 'unpack') controller.abort(new OpsError('HEARTH_ERR_TIMEOUT', 'upgrade deadline passed'));
      },
      controller.signal,
    ),
  );
  t.is(codeOf(err), 'HEARTH_ERR_TIMEOUT');
  await assertInstalledExactly(t, stateDir, [], dir);
});

test('sources: relative paths, unknown schemes and bad sha256 are invalid arguments', async (t) => {
  const { dir, store } = await makeStore(t);
  for (const [source, sha256] of [
    ['relative/a.tgz', 'e'.repeat(64)],
    ['ftp://example.invalid/a.tgz', 'e'.repeat(64)],
    ['/tmp/a.tgz', 'E'.repeat(64)],
    ['/tmp/a.tgz', 'e'.repeat(63)],
  ] as const) {
    const err = await t.throwsAsync(store.install({ source, sha256 }, noProgress));
    t.is(codeOf(err), 'HEARTH_ERR_INVALID_ARGUMENT', `${source} ${sha256}`);
  }
  const missing = await t.throwsAsync(store.install({ source: path.join(dir, 'nonexistent.tgz'), sha256: 'e'.repeat(64) }, noProgress));
  t.is(codeOf(missing), 'HEARTH_ERR_ARTIFACT_DOWNLOAD');
  t.regex(missing?.message ?? '', /ENOENT/);
});
