// Release artifacts for the hand-off tests, built the way a release is: `package-artifact` on this
// checkout's dist/ with HEARTH_BUILD_VERSION. Broken builds are a good artifact unpacked,
// patched (a file rewritten) and packed again with node-tar, with their own sha256 — the store
// checks nothing about behaviour, so only the hand-off can catch them.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tar from 'tar';
import { repoRoot } from '../support/repo-root.js';

const run = promisify(execFile);

export interface BuiltArtifact {
  readonly version: string;
  readonly file: string;
  readonly sha256: string;
}

/** `node dist/scripts/package-artifact.js --out DIR` with HEARTH_BUILD_VERSION=version. */
export async function packageBuild(version: string, outDir: string): Promise<BuiltArtifact> {
  await mkdir(outDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, HEARTH_BUILD_VERSION: version };
  const { stdout } = await run(process.execPath, [path.join(repoRoot, 'dist/scripts/package-artifact.js'), '--out', outDir], { cwd: repoRoot, env, maxBuffer: 16 * 1024 * 1024 });
  const file = (await readdir(outDir)).find((n) => n.startsWith(`hearth-${version}-`) && n.endsWith('.tgz'));
  if (!file) throw new Error(`package-artifact wrote no artifact for ${version}: ${stdout}`);
  const full = path.join(outDir, file);
  const sha256 = (await readFile(`${full}.sha256`, 'utf8')).trim().split(/\s+/)[0] ?? '';
  return { version, file: full, sha256 };
}

/** A patch: file (relative to the artifact root) → its new text from the old one. */
export type Patches = Readonly<Record<string, (text: string) => string>>;

/**
 * A new version from a good artifact: unpacked, versions rewritten (manifest and package.json),
 * `patches` applied, packed again. Its sha256 is computed here.
 */
export async function patchedBuild(good: BuiltArtifact, version: string, outDir: string, patches: Patches): Promise<BuiltArtifact> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'hx-patch-'));
  try {
    await tar.x({ file: good.file, cwd: work });
    const all: Patches = {
      ...patches,
      'manifest.json': (t) => JSON.stringify({ ...(JSON.parse(t) as object), version }, null, 2),
      'package.json': (t) => JSON.stringify({ ...(JSON.parse(t) as object), version }, null, 2),
    };
    for (const [rel, patch] of Object.entries(all)) {
      const file = path.join(work, rel);
      const before = await readFile(file, 'utf8');
      const after = patch(before);
      if (after === before) throw new Error(`patch of ${rel} changed nothing`);
      await writeFile(file, after);
    }
    const file = path.join(outDir, `hearth-${version}-${process.platform}-${process.arch}-node${process.versions.modules}.tgz`);
    const entries = (await readdir(work)).sort();
    await tar.c({ gzip: true, cwd: work, file, portable: true }, entries);
    const sha256 = createHash('sha256').update(await readFile(file)).digest('hex');
    return { version, file, sha256 };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Text replacement that fails loudly when the anchor is not there (the build changed). */
export function replace(anchor: string, by: string): (text: string) => string {
  return (text) => {
    if (!text.includes(anchor)) throw new Error(`anchor not found: ${anchor}`);
    return text.replace(anchor, by);
  };
}

/** The four broken builds of the acceptance criteria, by what goes wrong. */
export const BROKEN: Readonly<Record<'exitAtStart' | 'neverReady' | 'selfCheckFails' | 'crashAfterReady', Patches>> = {
  exitAtStart: { 'dist/agent/main.js': replace("import cluster from 'node:cluster';", "import cluster from 'node:cluster';\nprocess.exit(3);") },
  // Alive and connected, but it never starts, so it never says ready.
  neverReady: { 'dist/agent/main.js': replace('runtime.start().catch(', 'new Promise(() => undefined).catch(') },
  selfCheckFails: { 'dist/agent/agent-runtime.js': replace('async #selfCheck() {', "async #selfCheck() {\n        throw new Error('self-check failed: injected by the test');") },
  crashAfterReady: { 'dist/agent/main.js': replace('runtime.start().catch(', 'runtime.start().then(() => { setTimeout(() => process.exit(7), 1000); }).catch(') },
};
