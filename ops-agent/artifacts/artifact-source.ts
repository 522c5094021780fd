// Fetches an artifact source to a file of our own under `<state>/downloads/`, so that what is
// verified is exactly what is unpacked (a later change of the source cannot alter it). A path or
// file:// URL is copied; http(s):// is streamed with a timeout, retries with exponential backoff
// and resume (`Range`) from the `.part` a failed attempt left behind. Which files and redirects
// are allowed at all is artifact-source-policy.ts's answer, asked before anything is read.
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, truncate } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { isOpsErrorCode, OpsError } from '../ops-errors.js';
import { allowedFile, redirectRefusal, type SourcePolicy } from './artifact-source-policy.js';

export type ArtifactSource = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'http'; readonly url: URL };

export interface FetchOptions {
  /** Directory for `<name>.part` and the finished `<name>.tgz`. */
  readonly downloadDir: string;
  /** File name stem, the expected sha256: a retry or a later install resumes the same `.part`. */
  readonly name: string;
  readonly maxBytes: number;
  /** Per attempt, and the longest a connection may stay idle. */
  readonly timeoutMs: number;
  readonly retries: number;
  readonly policy: SourcePolicy;
  readonly logger: Logger;
  /**
   * Bytes of an http(s) download so far. A local copy reports none: the size of a file whose
   * sha256 has not been checked yet is not for the caller to learn.
   */
  readonly onProgress?: (bytes: number, total: number | undefined) => void;
  readonly signal?: AbortSignal;
  /** First backoff delay; doubles per retry (capped at 10 s). */
  readonly backoffMs?: number;
}

const MAX_BACKOFF_MS = 10_000;

/** Parses a source: an absolute path, a file:// URL, or an http(s):// URL. */
export function parseSource(source: string): ArtifactSource {
  if (/^[a-z][a-z0-9+.-]*:/i.test(source)) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      throw new OpsError('HEARTH_ERR_INVALID_ARGUMENT', `artifact source is not a valid URL: ${redact(source)}`);
    }
    if (url.protocol === 'file:') return { kind: 'file', path: fileURLToPath(url) };
    if (url.protocol === 'http:' || url.protocol === 'https:') return { kind: 'http', url };
    throw new OpsError('HEARTH_ERR_INVALID_ARGUMENT', `unsupported artifact source scheme ${url.protocol} (use a path, file://, http:// or https://)`);
  }
  if (!path.isAbsolute(source)) {
    throw new OpsError('HEARTH_ERR_INVALID_ARGUMENT', `artifact path must be absolute: ${source}`);
  }
  return { kind: 'file', path: source };
}

/** The source for messages and logs: no credentials, no query string (signed URLs carry tokens there). */
export function redact(source: string): string {
  try {
    const url = new URL(source);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return source;
    return `${url.protocol}//${url.host}${url.pathname}${url.search === '' ? '' : '?…'}`;
  } catch {
    return source.replace(/\/\/[^/@]*@/, '//…@').replace(/\?.*$/, '?…');
  }
}

/** Fetches the source to `<downloadDir>/<name>.tgz` and returns its path and size. */
export async function fetchArtifact(source: ArtifactSource, options: FetchOptions): Promise<{ file: string; bytes: number }> {
  // Before anything is created or read; the real path is what gets opened.
  const checked: ArtifactSource = source.kind === 'file' ? { kind: 'file', path: await allowedFile(source.path, options.policy) } : source;
  await mkdir(options.downloadDir, { recursive: true });
  const part = path.join(options.downloadDir, `${options.name}.part`);
  const done = path.join(options.downloadDir, `${options.name}.tgz`);
  const bytes = checked.kind === 'file' ? await copyFile(checked.path, part, options) : await download(checked.url, part, options);
  await rename(part, done);
  return { file: done, bytes };
}

async function copyFile(from: string, part: string, options: FetchOptions): Promise<number> {
  let size: number;
  try {
    const st = await stat(from);
    if (!st.isFile()) throw new OpsError('HEARTH_ERR_ARTIFACT_DOWNLOAD', `${from} is not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof OpsError) throw err;
    throw new OpsError('HEARTH_ERR_ARTIFACT_DOWNLOAD', `cannot read ${from}: ${errText(err)}`);
  }
  if (size > options.maxBytes) throw tooLarge(options.maxBytes);
  const out = await open(part, 'w', 0o600);
  let written = 0;
  try {
    const input = createReadStream(from, { highWaterMark: 1024 * 1024, ...(options.signal ? { signal: options.signal } : {}) });
    for await (const chunk of input) {
      const buf = chunk as Buffer;
      written += buf.length;
      // The file may grow after the stat.
      if (written > options.maxBytes) throw tooLarge(options.maxBytes);
      await out.write(buf);
    }
  } catch (err) {
    await out.close();
    await rm(part, { force: true });
    if (err instanceof OpsError) throw err;
    if (options.signal?.aborted) throw abortError(options.signal);
    throw new OpsError('HEARTH_ERR_ARTIFACT_DOWNLOAD', `cannot copy ${from}: ${errText(err)}`);
  }
  await out.close();
  return written;
}

/** One failed attempt; `retry: false` ends the download at once. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

async function download(url: URL, part: string, options: FetchOptions): Promise<number> {
  const attempts = options.retries + 1;
  const where = redact(url.href);
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptDownload(url, part, options);
    } catch (err) {
      if (err instanceof OpsError) throw err;
      if (options.signal?.aborted) throw abortError(options.signal);
      const message = err instanceof AttemptError ? err.message : errText(err);
      const retry = err instanceof AttemptError ? err.retry : true;
      if (!retry || attempt >= attempts) {
        const tries = attempt === 1 ? '' : ` after ${attempt} attempts`;
        throw new OpsError('HEARTH_ERR_ARTIFACT_DOWNLOAD', `download of ${where} failed${tries}: ${message}`);
      }
      const delay = Math.min(MAX_BACKOFF_MS, (options.backoffMs ?? 250) * 2 ** (attempt - 1));
      options.logger.warn({ source: where, attempt, attempts, delayMs: delay, reason: message }, 'artifact download attempt failed; retrying');
      await sleep(delay, options.signal);
    }
  }
}

async function attemptDownload(url: URL, part: string, options: FetchOptions): Promise<number> {
  let have = await sizeOf(part);
  if (have > options.maxBytes) {
    await truncate(part, 0);
    have = 0;
  }
  const { req, res, cut } = await request(url, url, have, options);
  try {
    let total: number | undefined;
    if (res.statusCode === 206 && have > 0) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
      if (!range || Number(range[1]) !== have) {
        await truncate(part, 0);
        throw new AttemptError(`server answered range ${res.headers['content-range'] ?? '(none)'} for bytes=${have}-; restarting from zero`, true);
      }
      total = range[3] === '*' ? undefined : Number(range[3]);
    } else if (res.statusCode === 200) {
      have = 0;
      const length = res.headers['content-length'];
      total = length === undefined ? undefined : Number(length);
    } else if (res.statusCode === 416 && have > 0) {
      // The `.part` may already hold everything.
      const range = /^bytes \*\/(\d+)$/.exec(res.headers['content-range'] ?? '');
      if (range && Number(range[1]) === have) return have;
      await truncate(part, 0);
      throw new AttemptError(`HTTP 416 for bytes=${have}-; restarting from zero`, true);
    } else {
      const status = res.statusCode ?? 0;
      throw new AttemptError(`HTTP ${status} ${res.statusMessage ?? ''}`.trim(), status >= 500 || status === 408 || status === 429);
    }
    if (total !== undefined && total > options.maxBytes) {
      await rm(part, { force: true });
      throw tooLarge(options.maxBytes);
    }
    let written = have;
    const out = await open(part, have > 0 ? 'a' : 'w', 0o600);
    try {
      for await (const chunk of res) {
        const buf = chunk as Buffer;
        if (written + buf.length > options.maxBytes) {
          await out.close();
          await rm(part, { force: true });
          throw tooLarge(options.maxBytes);
        }
        await out.write(buf);
        written += buf.length;
        options.onProgress?.(written, total);
      }
    } catch (err) {
      if (err instanceof OpsError) throw err;
      throw new AttemptError(`connection failed after ${written} bytes${total === undefined ? '' : ` of ${total}`}: ${cut.reason ?? errText(err)}`, true);
    } finally {
      await out.close().catch(() => undefined);
    }
    if (total !== undefined && written !== total) {
      throw new AttemptError(`connection closed after ${written} of ${total} bytes`, true);
    }
    return written;
  } finally {
    req.destroy();
  }
}

interface Exchange {
  req: http.ClientRequest;
  res: http.IncomingMessage;
  /** Why we destroyed the request (a timeout), which the body reader only sees as "aborted". */
  cut: { reason?: string };
}

/** GET with the redirects the policy allows followed; the timeout covers the whole attempt and any idle period. */
function request(source: URL, url: URL, from: number, options: FetchOptions, redirects = 0): Promise<Exchange> {
  return new Promise<Exchange>((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'hearth-ops-agent' };
    if (from > 0) headers.range = `bytes=${from}-`;
    const req = client.get(url, { headers, agent: false, ...(options.signal ? { signal: options.signal } : {}) });
    const cut: { reason?: string } = {};
    const stop = (reason: string): void => {
      cut.reason ??= reason;
      req.destroy(new Error(reason));
    };
    const deadline = setTimeout(() => stop(`attempt not complete within ${options.timeoutMs} ms`), options.timeoutMs);
    req.once('close', () => clearTimeout(deadline));
    req.setTimeout(options.timeoutMs, () => stop(`connection idle for ${options.timeoutMs} ms`));
    req.on('error', (err) => reject(new AttemptError(errText(err), true)));
    req.once('response', (res) => {
      // Body errors surface through the reader; this keeps a late one from being unhandled.
      res.on('error', () => undefined);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && status !== 304 && location !== undefined) {
        res.resume();
        req.destroy();
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          return reject(new AttemptError(`redirect to an invalid URL`, false));
        }
        const refusal = redirectRefusal(source, url, next, redirects, options.policy);
        if (refusal !== undefined) return reject(new OpsError('HEARTH_ERR_ARTIFACT_REDIRECT_FORBIDDEN', `download of ${redact(source.href)}: not following ${refusal}`));
        return resolve(request(source, next, from, options, redirects + 1));
      }
      resolve({ req, res, cut });
    });
  });
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Names the limit only: the size of a file nobody verified is not ours to tell. */
function tooLarge(max: number): OpsError {
  return new OpsError('HEARTH_ERR_ARTIFACT_TOO_LARGE', `the artifact is over upgrade.maxArtifactBytes (${max} bytes)`);
}

/** An abort whose reason is a coded OpsError keeps that code; any other is a failed download. */
export function abortError(signal: AbortSignal, code: 'HEARTH_ERR_ARTIFACT_DOWNLOAD' | 'HEARTH_ERR_INTERNAL' = 'HEARTH_ERR_ARTIFACT_DOWNLOAD'): OpsError {
  const reason: unknown = signal.reason;
  // By code, not instanceof: the reason may come from another build's module.
  const reasonCode = (reason as { code?: unknown } | undefined)?.code;
  if (isOpsErrorCode(reasonCode)) return new OpsError(reasonCode, (reason as Error).message);
  const text = reason instanceof Error ? reason.message : String(reason);
  return new OpsError(code, `artifact install aborted: ${text}`);
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}
