// The repository root (nearest directory above with package.json, skipping dist/): bench code runs
// from dist/bench/… but reads proto/ and writes bench/results/ in the source tree.
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
/** The compiled bench directory (where forked entry points live). */
export const distBench = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
