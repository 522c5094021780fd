// What an artifact may contain. Every check names the entry it refuses (HEARTH_ERR_ARTIFACT_UNSAFE).
// Allowed: regular files, directories, and symbolic links whose target stays inside the root even
// when followed through other links of the archive. Refused: absolute paths, any `..` segment,
// hard links (simplest safe rule), devices, FIFOs, unknown types, duplicate paths, entries beneath
// a symlink, and more entries or declared bytes than the limits.
import path from 'node:path';
import { OpsError } from '../ops-errors.js';

export interface TarEntryLike {
  readonly path: string;
  readonly type: string;
  readonly size: number;
  readonly linkpath?: string | undefined;
}

export interface EntryLimits {
  readonly maxEntries: number;
  readonly maxUnpackedBytes: number;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const MAX_LINK_HOPS = 40;

export function unsafe(message: string): OpsError {
  return new OpsError('HEARTH_ERR_ARTIFACT_UNSAFE', `the artifact is unsafe: ${message}`);
}

function show(p: string): string {
  return JSON.stringify(p.length > 200 ? `${p.slice(0, 200)}…` : p);
}

/** `a/./b/` → `a/b`; throws on absolute paths, `..`, NUL. The root itself is `''`. */
export function normaliseEntryPath(raw: string): string {
  if (raw.includes('\0')) throw unsafe(`entry ${show(raw)} has a NUL byte in its path`);
  if (raw.startsWith('/') || /^[A-Za-z]:[\\/]/.test(raw) || raw.startsWith('\\\\')) {
    throw unsafe(`entry ${show(raw)} has an absolute path`);
  }
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw unsafe(`entry ${show(raw)} has a ".." path segment`);
  return segments.join('/');
}

/** Where a relative link target lands, lexically, from the link's directory; undefined when outside. */
function lexicalTarget(linkPath: string, target: string): string | undefined {
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(linkPath), target));
  if (resolved === '..' || resolved.startsWith('../') || path.posix.isAbsolute(resolved)) return undefined;
  return resolved === '.' ? '' : resolved;
}

/**
 * The stateless checks for one entry, applied in both passes. Returns the normalised path
 * (`''` only for a directory entry naming the root, which the caller skips).
 */
export function checkEntry(entry: TarEntryLike): string {
  const p = normaliseEntryPath(entry.path);
  const name = show(entry.path);
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      if (p === '') throw unsafe(`file entry ${name} names the root`);
      return p;
    case 'Directory':
      return p;
    case 'SymbolicLink': {
      const target = entry.linkpath ?? '';
      if (p === '') throw unsafe(`symlink entry ${name} names the root`);
      if (target === '' || target.includes('\0')) throw unsafe(`symlink ${name} has no valid target`);
      if (path.posix.isAbsolute(target)) throw unsafe(`symlink ${name} points to an absolute path ${show(target)}`);
      if (lexicalTarget(p, target) === undefined) throw unsafe(`symlink ${name} points outside the artifact (${show(target)})`);
      return p;
    }
    case 'Link':
      throw unsafe(`entry ${name} is a hard link (to ${show(entry.linkpath ?? '')}); hard links are not allowed`);
    case 'CharacterDevice':
    case 'BlockDevice':
      throw unsafe(`entry ${name} is a device file`);
    case 'FIFO':
      throw unsafe(`entry ${name} is a FIFO`);
    default:
      throw unsafe(`entry ${name} has an unsupported type ${entry.type}`);
  }
}

/**
 * Everything pass 1 learned: the checked entries and their totals. `finish()` runs the checks that
 * need the whole listing (links through links, entries beneath links).
 */
export class EntryLedger {
  entries = 0;
  declaredBytes = 0;
  /** Normalised path → type. */
  readonly types = new Map<string, string>();
  readonly symlinks = new Map<string, string>();

  constructor(private readonly limits: EntryLimits) {}

  add(entry: TarEntryLike): string {
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) {
      throw unsafe(`more than ${this.limits.maxEntries} entries (upgrade.maxArtifactEntries), at ${show(entry.path)}`);
    }
    const p = checkEntry(entry);
    if (FILE_TYPES.has(entry.type)) {
      this.declaredBytes += entry.size;
      if (this.declaredBytes > this.limits.maxUnpackedBytes) {
        throw unsafe(`more than ${this.limits.maxUnpackedBytes} bytes unpacked (upgrade.maxUnpackedBytes), at ${show(entry.path)}`);
      }
    }
    if (p === '') return p;
    const kind = FILE_TYPES.has(entry.type) ? 'File' : entry.type;
    const seen = this.types.get(p);
    if (seen !== undefined && !(seen === 'Directory' && kind === 'Directory')) {
      throw unsafe(`entry ${show(entry.path)} appears more than once`);
    }
    this.types.set(p, kind);
    if (kind === 'SymbolicLink') this.symlinks.set(p, entry.linkpath ?? '');
    return p;
  }

  finish(): void {
    if (this.symlinks.size === 0) return;
    for (const p of this.types.keys()) {
      for (let dir = path.posix.dirname(p); dir !== '.'; dir = path.posix.dirname(dir)) {
        if (this.symlinks.has(dir)) throw unsafe(`entry ${show(p)} lies beneath the symlink ${show(dir)}`);
      }
    }
    for (const [link, target] of this.symlinks) {
      if (!this.staysInside(link, target)) throw unsafe(`symlink ${show(link)} resolves outside the artifact through other links (${show(target)})`);
    }
  }

  /** Resolves a link the way the kernel would, following links of this archive; false when it leaves the root. */
  private staysInside(link: string, target: string): boolean {
    const stack = path.posix.dirname(link) === '.' ? [] : path.posix.dirname(link).split('/');
    const queue = target.split('/');
    let hops = 0;
    while (queue.length > 0) {
      const seg = queue.shift() as string;
      if (seg === '' || seg === '.') continue;
      if (seg === '..') {
        if (stack.length === 0) return false;
        stack.pop();
        continue;
      }
      stack.push(seg);
      const next = this.symlinks.get(stack.join('/'));
      if (next === undefined) continue;
      if (++hops > MAX_LINK_HOPS || path.posix.isAbsolute(next)) return false;
      stack.pop();
      queue.unshift(...next.split('/'));
    }
    return true;
  }
}
