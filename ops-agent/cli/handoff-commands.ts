// `hearth upgrade`, `hearth rollback`, `hearth reload`: POST to the running agent's admin API and
// print its NDJSON progress as it arrives. Exit 0 only when the final line says ok — the new
// generation serves and the old one has exited — otherwise the code's exit status (1) with the
// code and the reason on stderr.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { adminPostStream } from '../admin-client.js';
import { OPS_ERROR_CATALOG, isOpsErrorCode } from '../ops-errors.js';
import type { FinalEvent, ProgressEvent } from '../upgrade/progress.js';
import { notRunning, resolveAdminSocket, type AdminTarget } from './admin-target.js';

export interface HandoffCommandOptions extends AdminTarget {
  readonly kind: 'upgrade' | 'rollback' | 'reload';
  readonly artifact?: string | undefined;
  readonly sha256?: string | undefined;
  readonly signatureFile?: string | undefined;
  /** Relative artifact and signature paths are resolved against it (the agent has its own cwd). */
  readonly cwd: string;
}

export async function handoffCommand(o: HandoffCommandOptions): Promise<number> {
  const target = await resolveAdminSocket({ ...o, lenient: true });
  if (!target.ok) return target.code;
  let body: Record<string, string> | undefined;
  if (o.kind === 'upgrade') {
    if (o.artifact === undefined || o.sha256 === undefined) throw new Error('upgrade needs --artifact and --sha256');
    body = { artifact: artifactLocation(o.artifact, o.cwd), sha256: o.sha256 };
    if (o.signatureFile !== undefined) {
      try {
        body.signature = signatureText(await readFile(path.resolve(o.cwd, o.signatureFile)));
      } catch (err) {
        console.error(`hearth: cannot read the signature file: ${(err as Error).message}`);
        return 1;
      }
    }
  }

  let final: FinalEvent | undefined;
  let res;
  try {
    res = await adminPostStream(target.socket, `/v1/${o.kind}`, body, (line) => {
      if (isFinal(line)) final = line;
      else printProgress(line as ProgressEvent);
    });
  } catch (err) {
    if (final === undefined && (err as NodeJS.ErrnoException).code !== undefined) return notRunning(target.socket, err);
    console.error(`hearth: ${o.kind}: the connection to the agent failed: ${(err as Error).message}`);
    return 1;
  }
  if (res.status !== 200) {
    let parsed: { errorCode?: unknown; message?: unknown } = {};
    try {
      parsed = JSON.parse(res.body) as typeof parsed;
    } catch {
      // not JSON: shown raw below
    }
    const code = typeof parsed.errorCode === 'string' ? parsed.errorCode : `HTTP ${res.status}`;
    console.error(`hearth: ${o.kind} refused [${code}]: ${typeof parsed.message === 'string' ? parsed.message : res.body}`);
    return exitFor(code);
  }
  if (!final) {
    console.error(`hearth: ${o.kind}: the agent ended the stream without a result; see \`hearth status\``);
    return 1;
  }
  const phases = Object.entries(final.phases)
    .map(([p, ms]) => `${p} ${ms} ms`)
    .join(', ');
  if (final.result === 'ok') {
    const handoff = final.handoffMs !== undefined ? `; hand-off (ready → old exited) ${final.handoffMs} ms` : '';
    console.log(`${o.kind} ok: ${final.from} → ${final.to}${handoff}`);
    console.log(`phases: ${phases}`);
    return 0;
  }
  console.error(`hearth: ${o.kind} failed [${final.code ?? 'HEARTH_ERR_INTERNAL'}]: ${final.message ?? 'no reason given'}`);
  console.error(`phases: ${phases || 'none'}; the serving generation is unchanged unless the phases reached drain`);
  return exitFor(final.code ?? 'HEARTH_ERR_INTERNAL');
}

function isFinal(line: unknown): line is FinalEvent {
  return line !== null && typeof line === 'object' && 'result' in line;
}

function printProgress(e: ProgressEvent): void {
  const tag = `[${e.phase}]`.padEnd(12);
  if (e.ms !== undefined) console.log(`${tag} done in ${e.ms} ms`);
  else if (e.bytes !== undefined) {
    const of = e.total !== undefined ? ` / ${mib(e.total)}` : '';
    const pct = e.percent !== undefined ? ` (${e.percent}%)` : '';
    console.log(`${tag} ${mib(e.bytes)}${of}${pct}`);
  } else if (e.message !== undefined) console.log(`${tag} ${e.message}`);
  else console.log(tag);
}

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function exitFor(code: string): number {
  return isOpsErrorCode(code) ? OPS_ERROR_CATALOG[code].exit : 1;
}

/** URLs pass through; a local path becomes absolute (the agent resolves against its own cwd). */
function artifactLocation(artifact: string, cwd: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(artifact) ? artifact : path.resolve(cwd, artifact);
}

/** A signature file holds base64 text (as scripts/sign-artifact writes it) or the 64 raw bytes. */
function signatureText(bytes: Buffer): string {
  const text = bytes.toString('utf8').trim();
  return /^[A-Za-z0-9+/=\s]+$/.test(text) && bytes.length !== 64 ? text.replace(/\s+/g, '') : bytes.toString('base64');
}
