// The command line of scripts/rollout, its hosts file and its token file, turned into one frozen
// options object. Everything wrong is a HEARTH_ERR_USAGE naming the flag, or the file and line, so
// a typo never gets as far as touching a host. The artifact location is passed to every host as
// given — it is where *the hosts* fetch it — so only its shape is checked here.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isValidVersion } from '../ops-agent/artifacts/artifact-manifest.js';
import { RolloutError } from './rollout-errors.js';
import { MAX_TIMER_MS } from '@hearth/protocol';

export const USAGE = `usage: scripts/rollout --hosts FILE --token-file FILE (--artifact URL|PATH --sha256 HEX | --rollback) [options]

Upgrades (or rolls back) a fleet of Hearth hosts through their admin API on TCP (admin.tcp in each
host's configuration): pre-flight GET /v1/status and /readyz on every host, a canary batch, then
batches; stops at the first failed batch and prints a summary.

  --hosts FILE             one host:port per line ([v6addr]:port for IPv6); # comments, blank lines
  --token-file FILE        the admin bearer token (the same on every host)
  --artifact URL|PATH      where each HOST fetches the artifact: http(s)://…, file://… or an absolute
                           path on the host, in a directory of its upgrade.allowedFileDirs
  --sha256 HEX             the artifact's sha256 (its .sha256 file)
  --signature FILE         base64 ed25519 signature (.sig), read here and sent to every host
  --version V              the target version (default: from the artifact name hearth-V-<os>-<arch>-node<abi>.tgz)
  --rollback               hand every host back to its previous version instead
  --from-version V         with --rollback: only hosts now running V (the others are skipped)
  --canary N               hosts in the first batch, which must succeed entirely (default 1; 0: none)
  --batch-size N           hosts per batch after the canary (default 10)
  --parallel N             concurrent hand-offs within a batch (default: the batch size)
  --max-failures N         failed hosts tolerated over the whole rollout before it stops (default 0)
  --pause DURATION         wait between batches, then re-check every host done so far (default 0; 30s, 5m)
  --timeout DURATION       per status/readiness request (default 10s)
  --handoff-timeout DUR.   per hand-off, download included (default 15m)
  --verify-timeout DUR.    how long a host may take to report the new version and ready (default 30s)
  --skip-unready           leave unreachable/unready hosts out instead of aborting (exit is still 1)
  --dry-run                pre-flight and print the plan; change nothing
  --json                   the summary as JSON on stdout (progress goes to stderr)
  -h, --help               this help

Exit status: 0 every targeted host ends on the target version; 1 anything else; 2 usage error.`;

export interface HostEntry {
  /** As written in the hosts file (host:port), the name used in every line of output. */
  readonly name: string;
  /** For the connection: no brackets around an IPv6 address. */
  readonly host: string;
  readonly port: number;
}

export type RolloutMode = 'upgrade' | 'rollback';

export interface RolloutOptions {
  readonly mode: RolloutMode;
  readonly hosts: readonly HostEntry[];
  readonly token: string;
  /** Upgrade only. */
  readonly artifact?: string;
  readonly sha256?: string;
  readonly signature?: string;
  /** Upgrade: the version every host must end on. */
  readonly targetVersion?: string;
  /** Rollback: only hosts on this version. */
  readonly fromVersion?: string;
  readonly canary: number;
  readonly batchSize: number;
  readonly parallel: number;
  readonly maxFailures: number;
  readonly pauseMs: number;
  readonly timeoutMs: number;
  readonly handoffTimeoutMs: number;
  readonly verifyTimeoutMs: number;
  readonly skipUnready: boolean;
  readonly dryRun: boolean;
  readonly json: boolean;
}

/** `help` when -h was given; otherwise the options with the files read. */
export async function loadRolloutOptions(argv: readonly string[], cwd: string): Promise<RolloutOptions | 'help'> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw usage((err as Error).message);
  }
  if (values.help === true) return 'help';
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  const mode: RolloutMode = values.rollback === true ? 'rollback' : 'upgrade';

  const hostsFile = required(str('hosts'), '--hosts FILE');
  const tokenFile = required(str('token-file'), '--token-file FILE');
  let upgrade: Pick<RolloutOptions, 'artifact' | 'sha256' | 'signature' | 'targetVersion'> = {};
  let fromVersion: string | undefined;
  if (mode === 'upgrade') {
    if (str('from-version') !== undefined) throw usage('--from-version goes with --rollback');
    const artifact = required(str('artifact'), '--artifact URL|PATH');
    const sha256 = required(str('sha256'), '--sha256 HEX');
    if (!/^[0-9a-fA-F]{64}$/.test(sha256)) throw usage('--sha256 must be 64 hex digits');
    checkArtifactLocation(artifact);
    const targetVersion = str('version') ?? versionFromArtifactName(artifact);
    if (targetVersion === undefined) throw usage(`cannot tell the target version from the artifact name "${artifact}"; give --version`);
    checkVersion(targetVersion, '--version');
    const signatureFile = str('signature');
    const signature = signatureFile === undefined ? undefined : await readSignature(path.resolve(cwd, signatureFile));
    upgrade = { artifact, sha256: sha256.toLowerCase(), targetVersion, ...(signature !== undefined ? { signature } : {}) };
  } else {
    for (const k of ['artifact', 'sha256', 'signature', 'version']) if (str(k) !== undefined) throw usage(`--${k} does not go with --rollback`);
    fromVersion = str('from-version');
    if (fromVersion !== undefined) checkVersion(fromVersion, '--from-version');
  }

  const batchSize = count(str('batch-size'), '--batch-size', 10, 1);
  const options: RolloutOptions = {
    mode,
    hosts: parseHostsFile(await readText(path.resolve(cwd, hostsFile), '--hosts'), hostsFile),
    token: parseToken(await readText(path.resolve(cwd, tokenFile), '--token-file'), tokenFile),
    ...upgrade,
    ...(fromVersion !== undefined ? { fromVersion } : {}),
    canary: count(str('canary'), '--canary', 1, 0),
    batchSize,
    parallel: count(str('parallel'), '--parallel', batchSize, 1),
    maxFailures: count(str('max-failures'), '--max-failures', 0, 0),
    pauseMs: duration(str('pause'), '--pause', 0),
    timeoutMs: duration(str('timeout'), '--timeout', 10_000, 1),
    handoffTimeoutMs: duration(str('handoff-timeout'), '--handoff-timeout', 15 * 60_000, 1),
    verifyTimeoutMs: duration(str('verify-timeout'), '--verify-timeout', 30_000, 1),
    skipUnready: values['skip-unready'] === true,
    dryRun: values['dry-run'] === true,
    json: values.json === true,
  };
  return Object.freeze(options);
}

const OPTIONS = {
  hosts: { type: 'string' },
  'token-file': { type: 'string' },
  artifact: { type: 'string' },
  sha256: { type: 'string' },
  signature: { type: 'string' },
  version: { type: 'string' },
  rollback: { type: 'boolean' },
  'from-version': { type: 'string' },
  canary: { type: 'string' },
  'batch-size': { type: 'string' },
  parallel: { type: 'string' },
  'max-failures': { type: 'string' },
  pause: { type: 'string' },
  timeout: { type: 'string' },
  'handoff-timeout': { type: 'string' },
  'verify-timeout': { type: 'string' },
  'skip-unready': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * One `host:port` per line; `#` starts a comment; blank lines are skipped. A duplicate would be
 * upgraded twice in one batch (the second gets UPGRADE_BUSY), so it is refused.
 */
export function parseHostsFile(text: string, file: string): HostEntry[] {
  const hosts: HostEntry[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const at = `${file}:${i + 1}`;
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9][A-Za-z0-9.-]*)):(\d{1,5})$/.exec(line);
    if (!m) throw usage(`${at}: "${line}" is not host:port (IPv6 as [addr]:port)`);
    const port = Number(m[3]);
    if (port < 1 || port > 65535) throw usage(`${at}: port ${port} is out of range`);
    const host = m[1] ?? m[2] ?? '';
    const key = `${host.toLowerCase()}:${port}`;
    const first = seen.get(key);
    if (first !== undefined) throw usage(`${at}: ${line} is already listed on line ${first}`);
    seen.set(key, i + 1);
    hosts.push({ name: line, host, port });
  });
  if (hosts.length === 0) throw usage(`${file}: no hosts listed`);
  return hosts;
}

export function parseToken(text: string, file: string): string {
  const token = text.trim();
  if (token === '') throw usage(`${file}: the token file is empty`);
  if (/\s/.test(token)) throw usage(`${file}: the token must be one line without spaces`);
  return token;
}

/** `hearth-<version>-<platform>-<arch>-node<abi>.tgz` (what `npm run package` writes), or undefined. */
export function versionFromArtifactName(artifact: string): string | undefined {
  let name = artifact;
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(artifact)) name = new URL(artifact).pathname;
  } catch {
    return undefined;
  }
  const m = /^hearth-(.+)-[a-z0-9]+-[a-z0-9_]+-node\d+\.tgz$/.exec(path.posix.basename(name));
  return m?.[1];
}

/** Every host resolves the location itself: a relative path would mean something else on each. */
function checkArtifactLocation(artifact: string): void {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(artifact)) {
    let url: URL;
    try {
      url = new URL(artifact);
    } catch {
      throw usage(`--artifact "${artifact}" is not a valid URL`);
    }
    if (!['http:', 'https:', 'file:'].includes(url.protocol)) throw usage(`--artifact: the hosts fetch http://, https:// or file:// only, not ${url.protocol}//`);
    return;
  }
  if (!path.posix.isAbsolute(artifact)) throw usage(`--artifact "${artifact}": give a URL or an absolute path as the hosts see it`);
}

/** The .sig file as sign-artifact writes it (base64 text); 64 raw bytes are encoded. */
async function readSignature(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw usage(`--signature: cannot read ${file}: ${(err as Error).message}`);
  }
  const text = bytes.toString('utf8').trim();
  return /^[A-Za-z0-9+/=\s]+$/.test(text) && bytes.length !== 64 ? text.replace(/\s+/g, '') : bytes.toString('base64');
}

async function readText(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw usage(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** A version is a directory name on the hosts: the same rule as the artifact manifest's. */
function checkVersion(version: string, flag: string): void {
  const shown = version;
  if (!isValidVersion(version)) throw usage(`${flag}: "${shown}" is not a valid version (letters, digits, . + _ -)`);
}

function required(v: string | undefined, what: string): string {
  if (v === undefined || v === '') throw usage(`missing ${what}`);
  return v;
}

function count(v: string | undefined, flag: string, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min) throw usage(`${flag} must be a whole number >= ${min}, not "${v}"`);
  return Number(v);
}

/** `500ms`, `30s`, `5m`, `1h`; a bare number is seconds. */

export function duration(v: string | undefined, flag: string, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m?.[2] ?? 's'] ?? 1000;
  const ms = m ? Math.round(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(ms) || ms < min) throw usage(`${flag} must be a duration like 500ms, 30s, 5m or 1h, not "${v}"`);
  // Node's timers overflow past 2^31 − 1 ms (~24.8 days) and would fire at once.
  if (ms > MAX_TIMER_MS) throw usage(`${flag} must be at most ${MAX_TIMER_MS} ms (about 24 days), not "${v}"`);
  return ms;
}

function usage(message: string): RolloutError {
  return new RolloutError('HEARTH_ERR_USAGE', message);
}
