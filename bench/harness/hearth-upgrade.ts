// Hot upgrades of a bench Hearth, through the shipped tools only: builds artifacts with
// `dist/scripts/package-artifact.js`, runs `dist/ops-agent/main.js upgrade` against the agent's
// run dir, and reads the result (phase timings, hand-off time) from GET /v1/status on admin.sock.
// Every child is registered with the cleanup stack and stopped by its own pid.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { stopChild } from '../../test/support/child-process.js';
import { childEnv, getUnix, HEARTH_MAIN, type StatusJson } from '../../test/support/hearth-process.js';
import { repoRoot } from '../../test/support/repo-root.js';
import type { CleanupStack } from './cleanup-stack.js';

const PACKAGE_SCRIPT = path.join(repoRoot, 'dist', 'scripts', 'package-artifact.js');

export interface Artifact {
  readonly version: string;
  readonly file: string;
  readonly sha256: string;
}

export interface ChildRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs node with `args` to completion, bounded by timeoutMs (then SIGTERM, SIGKILL). */
export function runNode(cleanup: CleanupStack, name: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ChildRun> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const unregister = cleanup.add(name, () => stopChild(child, 3_000));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => void stopChild(child, 3_000), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      unregister();
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      unregister();
      resolve({ code, stdout, stderr });
    });
  });
}

/** `package-artifact --out <outDir>` with HEARTH_BUILD_VERSION=version. */
export async function packageBuild(cleanup: CleanupStack, outDir: string, version: string): Promise<Artifact> {
  const run = await runNode(cleanup, `package ${version}`, [PACKAGE_SCRIPT, '--out', path.join(outDir, version)],
    childEnv({ HEARTH_BUILD_VERSION: version }), 120_000);
  const file = /^wrote (.+\.tgz)$/m.exec(run.stdout)?.[1];
  const sha256 = /^sha256 ([0-9a-f]{64})$/m.exec(run.stdout)?.[1];
  if (run.code !== 0 || file === undefined || sha256 === undefined) {
    throw new Error(`package-artifact ${version} failed (exit ${String(run.code)}): ${run.stderr.trim() || run.stdout.trim()}`);
  }
  return { version, file, sha256 };
}

/** `hearth upgrade --artifact … --sha256 … --run-dir …`; exit 0 once the old generation has exited. */
export function upgradeCli(cleanup: CleanupStack, runDir: string, artifact: Artifact, timeoutMs = 180_000): Promise<ChildRun> {
  return runNode(cleanup, `hearth upgrade ${artifact.version}`,
    [HEARTH_MAIN, 'upgrade', '--artifact', artifact.file, '--sha256', artifact.sha256, '--run-dir', runDir], childEnv(), timeoutMs);
}

/** GET /v1/status on admin.sock (what `hearth status --json` prints). */
export async function hearthStatus(adminSocket: string, timeoutMs = 10_000): Promise<StatusJson> {
  const r = await getUnix(adminSocket, '/v1/status', timeoutMs);
  if (r.status !== 200) throw new Error(`/v1/status answered ${r.status}: ${r.body.slice(0, 300)}`);
  return JSON.parse(r.body) as StatusJson;
}
