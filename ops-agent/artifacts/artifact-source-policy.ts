// Where an artifact may come from. The admin API names the source, so without limits it could
// make the ops-agent read any local file or, through a redirect, reach any host. Local sources
// must lie in upgrade.allowedFileDirs once symlinks and `..` are resolved; a download may be
// redirected only to its source's own host or to upgrade.allowedRedirectHosts, never from https
// to http, and at most upgrade.maxRedirects times.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { OpsError } from '../ops-errors.js';

export interface SourcePolicy {
  /** Absolute directories; empty refuses every local source. */
  readonly allowedFileDirs: readonly string[];
  /** Host names, `*.`-prefixed for any subdomain, or bracketed IPv6 addresses. */
  readonly allowedRedirectHosts: readonly string[];
  readonly maxRedirects: number;
}

/**
 * The real path of a local source inside an allowed directory, to be opened instead of `file`.
 * A path outside every allowed directory is refused before the file system is asked anything
 * about it, so the answer says nothing about what exists there.
 */
export async function allowedFile(file: string, policy: SourcePolicy): Promise<string> {
  if (policy.allowedFileDirs.length === 0) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_SOURCE_FORBIDDEN', 'local artifact sources are refused: upgrade.allowedFileDirs is empty (use an http(s) URL, or list the directory that holds the artifacts)');
  }
  const dirs = await Promise.all(policy.allowedFileDirs.map(async (dir) => ({ dir: path.resolve(dir), real: await realpath(dir).catch(() => undefined) })));
  const lexical = path.resolve(file);
  // The configured spelling or the real one: a listed directory may itself be a symlink.
  if (!dirs.some((d) => isInside(lexical, d.dir) || (d.real !== undefined && isInside(lexical, d.real)))) {
    throw outside(file);
  }
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (err) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_DOWNLOAD', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!dirs.some((d) => d.real !== undefined && isInside(real, d.real))) throw outside(file);
  return real;
}

/** Why following a redirect from `from` to `to` is refused, or undefined when it is allowed. */
export function redirectRefusal(source: URL, from: URL, to: URL, followed: number, policy: SourcePolicy): string | undefined {
  if (followed >= policy.maxRedirects) return `more than ${policy.maxRedirects} redirect(s) (upgrade.maxRedirects)`;
  if (to.protocol !== 'http:' && to.protocol !== 'https:') return `a redirect to the unsupported scheme ${to.protocol}`;
  if (from.protocol === 'https:' && to.protocol === 'http:') return `a redirect from https to plain http (${to.host})`;
  if (to.hostname === source.hostname || policy.allowedRedirectHosts.some((h) => hostMatches(to.hostname, h))) return undefined;
  // The host only: a path or query may carry a token.
  return `a redirect to ${to.host}, which is neither the source's host nor in upgrade.allowedRedirectHosts`;
}

function hostMatches(hostname: string, pattern: string): boolean {
  const p = pattern.toLowerCase();
  return p.startsWith('*.') ? hostname.endsWith(p.slice(1)) : hostname === p;
}

function isInside(child: string, dir: string): boolean {
  const rel = path.relative(dir, child);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

function outside(file: string): OpsError {
  return new OpsError('HEARTH_ERR_ARTIFACT_SOURCE_FORBIDDEN', `${file} is not inside a directory of upgrade.allowedFileDirs (symlinks and ".." resolved)`);
}
