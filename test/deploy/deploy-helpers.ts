// Shared by the systemd and install tests: locating system tools (a missing one fails the test
// with the Debian package to install, never skips it), running scripts/install.sh, a snapshot
// of a directory tree to prove a run changed nothing, and a small parser for systemd's INI
// syntax (unit files) good enough to read back what we wrote.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../support/repo-root.js';

const run = promisify(execFile);

export const INSTALL_SH = path.join(repoRoot, 'scripts/install.sh');
export const SYSTEMD_DIR = path.join(repoRoot, 'systemd');

/** The absolute path of `name` on PATH (or /usr/sbin, /sbin), or an error naming the Debian package. */
export async function requireTool(name: string, debianPackage: string): Promise<string> {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter((d) => d !== '');
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} not found: install the Debian package "${debianPackage}" (apt-get install -y ${debianPackage}); .ci/run must install it`);
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end; a non-zero exit is a result, not an exception. */
export async function runTool(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  try {
    const { stdout, stderr } = await run(file, [...args], { env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `bash scripts/install.sh ARGS`. */
export function installSh(args: readonly string[], script = INSTALL_SH): Promise<RunResult> {
  return runTool('/bin/bash', [script, ...args]);
}

/**
 * Every entry under `root` with its type, mode, size, mtime and link target: two equal snapshots
 * mean nothing was created, removed, rewritten or re-linked in between.
 */
export async function snapshotTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const st = await lstat(full);
      const rel = path.relative(root, full);
      const type = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
      const target = st.isSymbolicLink() ? await readlink(full) : '';
      out.set(rel, `${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.isFile() ? st.size : 0} ${st.mtimeMs} ${target}`);
      if (st.isDirectory()) await walk(full);
    }
  };
  await walk(root);
  return out;
}

/** The entries that differ between two snapshots, for a readable assertion message. */
export function treeDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: ${v} -> ${b.get(k) ?? '(gone)'}`);
  for (const [k, v] of b) if (!a.has(k)) out.push(`${k}: (new) ${v}`);
  return out;
}

/** section → key → every assignment in order (systemd keys may repeat; an empty one resets a list). */
export type UnitFile = Map<string, Map<string, string[]>>;

/** systemd.syntax(7), the parts unit files use: sections, `#`/`;` comments, `\` continuations. */
export function parseUnit(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${(lines[++i] ?? '').trim()}`;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header?.[1] !== undefined) {
      section = unit.get(header[1]) ?? new Map<string, string[]>();
      unit.set(header[1], section);
      continue;
    }
    const eq = line.indexOf('=');
    if (section === undefined || eq < 1) throw new Error(`unit line ${i + 1} is not "Key=value" inside a section: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** The value in force (the last assignment), or undefined when the key is absent. */
export function unitValue(unit: UnitFile, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

/** A systemd time span ("50s", "2min 30s", "1h", a bare number of seconds) in milliseconds. */
export function parseTimespanMs(value: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, hr: 3_600_000 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)\s*([a-z]*)/g;
  const compact = value.trim();
  if (compact === '' || !/^(\d+(?:\.\d+)?\s*[a-z]*\s*)+$/.test(compact)) throw new Error(`not a time span: "${value}"`);
  for (const m of compact.matchAll(re)) {
    const factor = units[m[2] === '' ? 's' : (m[2] ?? '')];
    if (factor === undefined) throw new Error(`unknown time unit "${m[2]}" in "${value}"`);
    total += Number(m[1]) * factor;
  }
  return total;
}

/** A systemd byte size ("768M", "1G", bytes) in MiB (K, M, G are powers of 1024 in systemd). */
export function parseBytesMiB(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)$/.exec(value.trim());
  if (!m) throw new Error(`not a byte size: "${value}"`);
  const power = { '': -2, K: -1, M: 0, G: 1, T: 2 }[m[2] as '' | 'K' | 'M' | 'G' | 'T'];
  return Number(m[1]) * 1024 ** power;
}
