// Tests and the bench run from dist/…; the repository root is the nearest directory above with
// package.json (skipping dist/), where proto/, docs/ and bench/results/ are.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist') {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

export const repoRoot = findRoot(path.dirname(fileURLToPath(import.meta.url)));
/** The compiled tree (dist/test, dist/bench, dist/ops-agent …), where forked entry points live. */
export const distRoot = path.join(repoRoot, 'dist');
