// <stateDir>/hearth-state.json: which build is active, which one came before it, the hand-off in
// progress (if any) and how the last ones ended. Written atomically (temp file, fsync, rename,
// fsync of the directory), so `kill -9` at any instant leaves either the old or the new file,
// never a torn one; the next start reads it to pick the build and to record an interrupted
// hand-off as failed.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

export const STATE_FILE = 'hearth-state.json';
const FORMAT = 1;
const HISTORY = 10;

export type HandoffKind = 'upgrade' | 'rollback' | 'reload' | 'auto-rollback';

/** A build the supervisor can fork: an installed version, or the ops-agent's own (no dir). */
export interface BuildRef {
  readonly version: string;
  /** Absolute path of its worker entry. */
  readonly exec: string;
  /** The installed version's directory; absent for the ops-agent's own build. */
  readonly dir?: string;
}

export interface ActiveBuild extends BuildRef {
  readonly generation: number;
}

export interface InProgress {
  readonly kind: HandoffKind;
  readonly toVersion: string;
  readonly phase: string;
  readonly startedAt: string;
  readonly generation?: number;
}

export interface HandoffResult {
  readonly kind: HandoffKind;
  readonly from: string;
  readonly to: string;
  readonly result: 'ok' | 'failed';
  readonly code?: string;
  readonly reason?: string;
  /** Duration of each phase in ms, in the order they ran. */
  readonly phases: Readonly<Record<string, number>>;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Generation numbers involved (absent when nothing was forked). */
  readonly fromGeneration?: number;
  readonly toGeneration?: number;
  /** ready → every old worker exited, the hand-off time proper. */
  readonly handoffMs?: number;
}

export interface UpgradeState {
  readonly format: number;
  readonly active: ActiveBuild | null;
  readonly previous: BuildRef | null;
  readonly inProgress?: InProgress;
  readonly lastResult?: HandoffResult;
  /** Newest last, at most 10. */
  readonly history: readonly HandoffResult[];
}

export const EMPTY_STATE: UpgradeState = { format: FORMAT, active: null, previous: null, history: [] };

export class UpgradeStateFile {
  readonly file: string;
  readonly #log: Logger;
  #state: UpgradeState = EMPTY_STATE;
  /** Writes are serialised: a later state never lands before an earlier one. */
  #queue: Promise<void> = Promise.resolve();

  constructor(stateDir: string, logger: Logger) {
    this.file = path.join(stateDir, STATE_FILE);
    this.#log = logger.child({ component: 'upgrade-state' });
  }

  get state(): UpgradeState {
    return this.#state;
  }

  /** Reads the file; a missing file is a first start, an unreadable one is logged and ignored. */
  async load(): Promise<UpgradeState> {
    await this.#removeTempFiles();
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.error({ err, file: this.file }, 'cannot read the state file; starting from an empty state');
      this.#state = EMPTY_STATE;
      return this.#state;
    }
    const parsed = parseState(text);
    if (typeof parsed === 'string') {
      this.#log.error({ file: this.file, reason: parsed }, 'invalid state file; starting from an empty state');
      this.#state = EMPTY_STATE;
    } else {
      this.#state = parsed;
    }
    return this.#state;
  }

  /** A write cut short by `kill -9` leaves its temp file; the real file is intact. */
  async #removeTempFiles(): Promise<void> {
    const dir = path.dirname(this.file);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const n of names) {
      if (n.startsWith(`${STATE_FILE}.tmp-`)) await unlink(path.join(dir, n)).catch(() => undefined);
    }
  }

  /** Applies `change` and persists the result; resolves once it is durable on disk. */
  update(change: (s: UpgradeState) => UpgradeState): Promise<void> {
    this.#state = change(this.#state);
    const snapshot = this.#state;
    const write = this.#queue.then(() => writeAtomic(this.file, `${JSON.stringify(snapshot, null, 2)}\n`));
    this.#queue = write.catch(() => undefined);
    return write;
  }

  /** Records a finished hand-off as lastResult and in the history. */
  record(result: HandoffResult, extra: (s: UpgradeState) => Partial<UpgradeState> = () => ({})): Promise<void> {
    return this.update((s) => {
      const { inProgress: _done, ...rest } = s;
      return { ...rest, ...extra(s), lastResult: result, history: [...s.history, result].slice(-HISTORY) };
    });
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // The rename itself is durable only once the directory is.
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** The state, or why it cannot be used. Unknown fields are dropped; a newer format is refused. */
export function parseState(text: string): UpgradeState | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (!isRecord(doc)) return 'not an object';
  if (doc.format !== FORMAT) return `unknown format ${JSON.stringify(doc.format)}`;
  const active = doc.active === null || doc.active === undefined ? null : build(doc.active);
  if (active === undefined || (active !== null && !Number.isSafeInteger((doc.active as Record<string, unknown>).generation))) return 'active: invalid';
  const previous = doc.previous === null || doc.previous === undefined ? null : build(doc.previous);
  if (previous === undefined) return 'previous: invalid';
  const history = Array.isArray(doc.history) ? (doc.history as unknown[]).filter(isResult).slice(-HISTORY) : [];
  const inProgress = isRecord(doc.inProgress) && typeof doc.inProgress.kind === 'string' ? (doc.inProgress as unknown as InProgress) : undefined;
  return {
    format: FORMAT,
    active: active === null ? null : { ...active, generation: (doc.active as { generation: number }).generation },
    previous,
    ...(inProgress ? { inProgress } : {}),
    ...(isResult(doc.lastResult) ? { lastResult: doc.lastResult } : {}),
    history,
  };
}

function build(v: unknown): BuildRef | undefined {
  if (!isRecord(v) || typeof v.version !== 'string' || typeof v.exec !== 'string') return undefined;
  if (v.dir !== undefined && typeof v.dir !== 'string') return undefined;
  return { version: v.version, exec: v.exec, ...(typeof v.dir === 'string' ? { dir: v.dir } : {}) };
}

function isResult(v: unknown): v is HandoffResult {
  return isRecord(v) && typeof v.kind === 'string' && (v.result === 'ok' || v.result === 'failed') && isRecord(v.phases);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
