// Feeds a gzipped tar file into a node-tar Parser or Unpack, the way both passes of
// artifact-unpack.ts need it: our own gunzip with a cap on decompressed bytes, a stop on the first
// violation, and node-tar and zlib failures turned into coded errors.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { OpsError } from '../ops-errors.js';
import { unsafe, type EntryLimits } from './tar-entry-rules.js';

export interface TarSink {
  write(chunk: Buffer): boolean;
  end(): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** Longest wait for the extractor's pending writes after a failure, before the temp dir is removed. */
const SETTLE_MS = 5000;

/**
 * Gunzips `file` into a node-tar parser. Decompressed bytes are capped (declared sizes plus
 * generous header overhead), so a gzip bomb cannot keep us busy. A violation stops pass 1 at
 * once; pass 2 (`extracting`) keeps feeding (its filter now skips everything), and after any
 * failure waits (bounded) for the extractor's 'close', so no pending write lands after the caller
 * removed the temp dir (recover() at the next start removes one that outlived the bound).
 */
export async function feed(
  file: string,
  sink: TarSink,
  limits: EntryLimits,
  stopped: () => OpsError | undefined,
  tarCode: 'HEARTH_ERR_ARTIFACT_INVALID' | 'HEARTH_ERR_ARTIFACT_UNSAFE',
  extracting: boolean,
  signal?: AbortSignal,
): Promise<void> {
  const cap = limits.maxUnpackedBytes + limits.maxEntries * 4096 + 1024 * 1024;
  let sinkError: Error | undefined;
  // 'close' comes once the extractor has finished its pending writes, even after an error.
  const closed = new Promise<void>((resolve) => sink.on('close', () => resolve()));
  const finished = new Promise<void>((resolve, reject) => {
    void closed.then(resolve);
    sink.on('error', (err) => {
      sinkError ??= err as Error;
      reject(sinkError);
    });
  });
  finished.catch(() => undefined);
  let ended = false;
  // pipeline() may report the AbortError of the stages it tears down instead of ours.
  let ours: unknown;
  const consume = async (source: AsyncIterable<Buffer>): Promise<void> => {
    try {
      await consumeAll(source);
    } catch (err) {
      ours = err;
      throw err;
    }
  };
  const consumeAll = async (source: AsyncIterable<Buffer>): Promise<void> => {
    let bytes = 0;
    for await (const chunk of source) {
      bytes += chunk.length;
      if (bytes > cap) throw unsafe(`the archive decompresses to more than ${cap} bytes`);
      const flowing = sink.write(chunk);
      if (sinkError !== undefined) throw sinkError;
      const violation = stopped();
      if (violation !== undefined && !extracting) throw violation;
      if (!flowing) await Promise.race([new Promise<void>((resolve) => sink.once('drain', () => resolve())), finished]);
    }
    ended = true;
    sink.end();
    await finished;
    const violation = stopped();
    if (violation !== undefined) throw violation;
  };
  try {
    if (signal) await pipeline(createReadStream(file), createGunzip(), consume, { signal });
    else await pipeline(createReadStream(file), createGunzip(), consume);
  } catch (err) {
    if (!ended) {
      try {
        sink.end();
      } catch {
        // already failed; only the settle wait matters
      }
    }
    if (extracting) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, SETTLE_MS)))]);
      clearTimeout(timer);
    }
    throw feedError(ours ?? err, tarCode, signal);
  }
}

function feedError(err: unknown, tarCode: 'HEARTH_ERR_ARTIFACT_INVALID' | 'HEARTH_ERR_ARTIFACT_UNSAFE', signal: AbortSignal | undefined): unknown {
  if (err instanceof OpsError || signal?.aborted === true) return err;
  const e = err as NodeJS.ErrnoException & { tarCode?: string };
  // node-tar reports a failed write as a TAR_ENTRY_ERROR carrying the errno: a disk problem, not the archive's.
  if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return new OpsError('HEARTH_ERR_PREFLIGHT_DISK', `out of disk while unpacking: ${e.message}`);
  if (e.code?.startsWith('Z_') === true) return new OpsError('HEARTH_ERR_ARTIFACT_INVALID', `the artifact is not a valid gzip file: ${e.message}`);
  if (typeof e.errno === 'number' || e.syscall !== undefined) return err;
  if (typeof e.tarCode === 'string' || e.code?.startsWith('TAR_') === true) {
    return new OpsError(tarCode, `the artifact is not a valid tar archive or was refused by the extractor: ${e.message}`);
  }
  return err;
}
