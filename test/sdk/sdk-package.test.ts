// The SDK as an app installs it: `npm pack` of @hearth/protocol and @hearth/sdk, installed from
// the tarballs into an empty app directory outside the repository (dependencies from the npm
// registry), then a program in that directory — importing only '@hearth/sdk' — makes real calls
// against a running `hearth start`. None of the daemon's dependencies may come with it.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import { repoRoot } from '../support/repo-root.js';

const run = promisify(execFile);

/** What a client may bring: the two packages, protobufjs and its own dependencies. */
const ALLOWED = /^(@hearth\/(sdk|protocol)|protobufjs|@protobufjs\/[a-z0-9.-]+|long|@types\/node|undici-types)$/;
/** The daemon's runtime dependencies (and gRPC, optional for a client): none may be installed. */
const DAEMON_ONLY = ['better-sqlite3', 'fastify', 'kafkajs', 'ioredis', 'pino', 'prom-client', 'ajv', 'yaml', 'tar', 'systeminformation', '@grpc/grpc-js', '@grpc/proto-loader', '@grpc/reflection', 'grpc-health-check'];

const PROGRAM = `
import { createClient, isHearthClientError } from '@hearth/sdk';
const [runDir] = process.argv.slice(2);
const out = {};
const client = createClient({ appId: 'demo', token: 'demo-token', runDir, env: {} });
try {
  await client.state.save('default', 'k', { hello: 'packed' });
  out.state = (await client.state.get('default', 'k')).json();
  const serving = client.serve({ echo: (req) => 'echo: ' + req.text() });
  await serving.ready;
  out.invoke = (await client.invoke('demo', 'echo', 'hi', { timeoutMs: 5000 })).text();
  out.id = (await client.sequencer.next('default', 'ids')) > 0n;
  try {
    await client.state.get('nope', 'k');
  } catch (err) {
    out.error = isHearthClientError(err) ? err.code : String(err);
  }
  try {
    createClient({ appId: 'demo', token: 'demo-token', runDir, env: {}, transport: 'grpc' }).state.get('default', 'k');
  } catch (err) {
    out.grpc = isHearthClientError(err) ? err.code + ' ' + err.message : String(err);
  }
} finally {
  await client.close();
}
console.log(JSON.stringify(out));
`;

let dir: string | undefined;
let h: HearthProcess | undefined;

test.after.always(async () => {
  await h?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the packed SDK installs alone into an empty app, brings none of the daemon’s dependencies, and works against a running agent', async (t) => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hsdk-'));
  // --ignore-scripts: pack what `npm test` just built, without rebuilding under other tests' feet.
  const packed = await run('npm', ['pack', '--json', '--ignore-scripts', '-w', '@hearth/protocol', '-w', '@hearth/sdk', '--pack-destination', dir], { cwd: repoRoot });
  const tarballs = (JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[]).map((p) => {
    t.true(p.files.some((f) => f.path === 'dist/index.js'), `${p.filename} carries dist/index.js`);
    t.false(p.files.some((f) => f.path.endsWith('.ts') && !f.path.endsWith('.d.ts')), `${p.filename} carries no TypeScript sources`);
    return path.join(dir!, p.filename);
  });
  t.is(tarballs.length, 2);

  const app = path.join(dir, 'app');
  await run('mkdir', [app]);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'probe-app', version: '1.0.0', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], { cwd: app, timeout: 300_000 });

  const lock = JSON.parse(await readFile(path.join(app, 'node_modules', '.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  const installed = Object.keys(lock.packages).map((k) => k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length));
  t.log(`installed with the SDK: ${installed.sort().join(', ')}`);
  for (const name of DAEMON_ONLY) t.false(installed.includes(name), `${name} came with the SDK`);
  for (const name of installed) t.regex(name, ALLOWED, `${name} is not something a client needs`);
  t.true(installed.includes('@hearth/sdk') && installed.includes('@hearth/protocol'));

  // A TypeScript app type-checks against the packages' declarations with skipLibCheck off: every
  // type they reference must come with them.
  await writeFile(
    path.join(app, 'probe-types.ts'),
    "import { createClient, isHearthClientError, type HearthClient, type StateEntry } from '@hearth/sdk';\n" +
      "import type { GetNextIdResponse, InvokeRequest } from '@hearth/protocol';\n" +
      "export const make = (): HearthClient => createClient({ appId: 'a', token: 't' });\n" +
      "export const ok = (e: unknown): boolean => isHearthClientError(e);\n" +
      "export type Shapes = [StateEntry, GetNextIdResponse, InvokeRequest];\n",
  );
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const checked = await run(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', 'probe-types.ts'], { cwd: app }).then(
    () => '',
    (err: Error & { stdout?: string }) => err.stdout ?? err.message,
  );
  t.is(checked, '', 'the packed types check in a strict app without skipLibCheck');

  h = await startHearth({
    config: {
      apps: [{ id: 'demo', token: 'demo-token', allow: { apps: ['*'] } }],
    },
  });
  await writeFile(path.join(app, 'probe.mjs'), PROGRAM);
  const { stdout } = await run(process.execPath, ['probe.mjs', h.runDir], { cwd: app, timeout: 60_000 });
  const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  t.deepEqual(out.state, { hello: 'packed' });
  t.is(out.invoke, 'echo: hi');
  t.is(out.id, true);
  t.is(out.error, 'HEARTH_ERR_STORE_NOT_FOUND');
  t.regex(String(out.grpc), /^HEARTH_ERR_INVALID_ARGUMENT .*@grpc\/grpc-js/);
});
