// The management API around the hand-off: coded JSON errors, the TCP listener for a fleet manager
// (bearer token, compared as a hash; the kubelet's probes answered without one, status alone), the
// memory preflight refusing a reload with numbers, and requests that cannot begin (nothing to roll
// back to), and an upgrade request that would make the ops-agent an oracle for local files.
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { makeTempDir, startHearth, type HearthProcess } from '../support/hearth-process.js';
import { adminHandoff, hearthCli, pidsOf } from '../helpers/upgrade-helpers.js';

const FLEET_TOKEN = 'fleet-manager-token-0123456789';
let h: HearthProcess;
let tcp: { host: string; port: number };
/** upgrade.allowedFileDirs of this agent. */
let releases: string | undefined;

test.before(async () => {
  releases = await makeTempDir();
  h = await startHearth({
    config: {
      // A headroom no host has: every hand-off's memory preflight must refuse.
      upgrade: { memoryHeadroom: 100_000, allowedFileDirs: [releases] },
      admin: { tcp: { host: '127.0.0.1', port: 0, token: FLEET_TOKEN } },
    },
  });
  const s = (await h.status()) as { adminTcp?: string | null };
  const m = /^(.+):(\d+)$/.exec(s.adminTcp ?? '');
  if (!m) throw new Error(`no admin TCP address in the status: ${String(s.adminTcp)}`);
  tcp = { host: m[1]!, port: Number(m[2]) };
});
test.after.always(async () => {
  await h?.stop();
  if (releases !== undefined) await rm(releases, { recursive: true, force: true });
});

function tcpRequest(method: string, urlPath: string, token?: string): Promise<{ status: number; body: string; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const req = http.request({ host: tcp.host, port: tcp.port, method, path: urlPath, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const code = res.headers['hearth-error-code'];
        resolve({ status: res.statusCode ?? 0, body, code: typeof code === 'string' ? code : undefined });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('the TCP listener requires the bearer token on every route but the probes: 401 HEARTH_ERR_UNAUTHENTICATED without it', async (t) => {
  for (const route of ['/v1/status', '/v1/versions', '/metrics', '/nope', '/healthz/x']) {
    const none = await tcpRequest('GET', route);
    t.is(none.status, 401, route);
    t.is(none.code, 'HEARTH_ERR_UNAUTHENTICATED');
    t.is((JSON.parse(none.body) as { errorCode: string }).errorCode, 'HEARTH_ERR_UNAUTHENTICATED');
    const wrong = await tcpRequest('GET', route, `${FLEET_TOKEN}x`);
    t.is(wrong.status, 401, route);
  }
  for (const kind of ['reload', 'rollback', 'upgrade']) t.is((await tcpRequest('POST', `/v1/${kind}`)).status, 401);
  // Only GET/HEAD of a probe route is let through: another method on it is not a probe.
  for (const route of ['/healthz', '/readyz']) t.is((await tcpRequest('POST', route)).status, 401, route);
  const ok = await tcpRequest('GET', '/v1/status', FLEET_TOKEN);
  t.is(ok.status, 200, ok.body);
  t.is((JSON.parse(ok.body) as { pid: number }).pid, h.pid);
  t.is((await tcpRequest('GET', '/healthz', FLEET_TOKEN)).status, 200);
});

test('the TCP listener answers the kubelet probes without a token, with the status alone (no pid, no problems)', async (t) => {
  // As a kubelet httpGet probe sends them: no authorization header.
  const health = await tcpRequest('GET', '/healthz');
  t.is(health.status, 200, health.body);
  t.deepEqual(JSON.parse(health.body), { status: 'ok' });
  const ready = await tcpRequest('GET', '/readyz?verbose=1');
  t.is(ready.status, 200, ready.body);
  t.deepEqual(JSON.parse(ready.body), { ready: true });
  t.is((await tcpRequest('HEAD', '/readyz')).status, 200);
  // With the token, the same routes answer in full; a wrong token is refused, not downgraded.
  t.deepEqual(JSON.parse((await tcpRequest('GET', '/healthz', FLEET_TOKEN)).body), { status: 'ok', pid: h.pid });
  t.deepEqual(JSON.parse((await tcpRequest('GET', '/readyz', FLEET_TOKEN)).body), { ready: true, problems: [] });
  for (const route of ['/healthz', '/readyz']) {
    const wrong = await tcpRequest('GET', route, `${FLEET_TOKEN}x`);
    t.is(wrong.status, 401, route);
    t.is(wrong.code, 'HEARTH_ERR_UNAUTHENTICATED');
  }
  // The Unix socket is unchanged: its file mode is the authentication.
  t.deepEqual(JSON.parse((await h.admin('/healthz')).body), { status: 'ok', pid: h.pid });
  t.deepEqual(JSON.parse((await h.admin('/readyz')).body), { ready: true, problems: [] });
});

test('unknown routes are 404 HEARTH_ERR_NOT_FOUND; a malformed upgrade body is 400 HEARTH_ERR_INVALID_ARGUMENT', async (t) => {
  const nf = await h.admin('/v1/nope');
  t.is(nf.status, 404);
  t.is((JSON.parse(nf.body) as { errorCode: string }).errorCode, 'HEARTH_ERR_NOT_FOUND');
  for (const body of [{}, { artifact: '/x.tgz' }, { artifact: '/x.tgz', sha256: 'abc' }, { artifact: '/x.tgz', sha256: 'a'.repeat(64), extra: 1 }]) {
    const r = await adminHandoff(h, 'upgrade', body as Record<string, string>);
    t.is(r.status, 400, JSON.stringify(body));
    t.is(r.error?.errorCode, 'HEARTH_ERR_INVALID_ARGUMENT');
  }
});

test('rollback with no previous version is 409 HEARTH_ERR_NO_PREVIOUS_VERSION; the CLI exits 1 with the code', async (t) => {
  const r = await adminHandoff(h, 'rollback');
  t.is(r.status, 409);
  t.is(r.error?.errorCode, 'HEARTH_ERR_NO_PREVIOUS_VERSION');
  const cli = await hearthCli(h, ['rollback']);
  t.is(cli.code, 1);
  t.regex(cli.stderr, /rollback refused \[HEARTH_ERR_NO_PREVIOUS_VERSION\]/);
  const v = JSON.parse((await h.admin('/v1/versions')).body) as { installed: unknown[]; previous: unknown; active: { version: string } };
  t.deepEqual(v.installed, []);
  t.is(v.previous, null);
  t.is(v.active.version, (await h.status()).activeVersion);
});

test('memory preflight: a reload without room for a second generation is HEARTH_ERR_PREFLIGHT_MEMORY with the numbers; nothing changes', async (t) => {
  const before = await h.status();
  const cli = await hearthCli(h, ['reload']);
  t.is(cli.code, 1, cli.stdout);
  t.regex(cli.stderr, /reload failed \[HEARTH_ERR_PREFLIGHT_MEMORY\]: not enough free memory for a second generation: needs [\d.]+ MiB \(2 worker\(s\) × [\d.]+ MiB RSS × 100000\), [\d.]+ MiB available, [\d.]+ MiB missing/);
  const after = await h.status();
  t.deepEqual(pidsOf(after), pidsOf(before));
  t.is(after.generation, before.generation);
  t.is(after.upgrade.lastResult?.code, 'HEARTH_ERR_PREFLIGHT_MEMORY');
  t.deepEqual(Object.keys(after.upgrade.lastResult?.phases ?? {}), ['config', 'preflight']);
});

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

// Serial: ava runs serial tests before the others, so this hand-off never meets the reload above (UPGRADE_BUSY).
test.serial('an upgrade of a file with a wrong sha256 tells neither its digest nor its size; a file outside upgrade.allowedFileDirs is refused', async (t) => {
  const secret = Buffer.alloc(987_654, 'a file that is no artifact\n');
  const file = path.join(releases ?? '', 'secret.txt');
  await writeFile(file, secret);
  const claimed = sha256(Buffer.from('a guess'));
  const before = await h.status();

  const inside = await adminHandoff(h, 'upgrade', { artifact: pathToFileURL(file).href, sha256: claimed });
  t.is(inside.final?.code, 'HEARTH_ERR_ARTIFACT_CHECKSUM', JSON.stringify(inside.final));
  const status = (await h.admin('/v1/status')).body;
  for (const told of [JSON.stringify(inside), status]) {
    t.true(told.includes(claimed), 'names the expected digest');
    t.false(told.includes(sha256(secret)), 'not the real digest');
    t.false(told.includes(String(secret.length)), 'not the size');
  }

  const passwd = await readFile('/etc/passwd');
  const outside = await adminHandoff(h, 'upgrade', { artifact: 'file:///etc/passwd', sha256: claimed });
  t.is(outside.final?.code, 'HEARTH_ERR_ARTIFACT_SOURCE_FORBIDDEN', JSON.stringify(outside.final));
  t.false(JSON.stringify(outside).includes(sha256(passwd)));
  const viaDotDot = await adminHandoff(h, 'upgrade', { artifact: `${releases ?? ''}/../../etc/passwd`, sha256: claimed });
  t.is(viaDotDot.final?.code, 'HEARTH_ERR_ARTIFACT_SOURCE_FORBIDDEN', JSON.stringify(viaDotDot.final));
  t.deepEqual(pidsOf(await h.status()), pidsOf(before), 'nothing changed');
});
