// Shared by the hand-off tests (test/upgrade/*): drive upgrade/rollback/reload through the admin
// API (NDJSON progress) or the real CLI, read the persisted state, rewrite the configuration,
// watch socket inodes, keep request loops running across a hand-off and count what failed, and
// SIGSTOP workers with a guaranteed SIGCONT/cleanup.
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { stringify as toYaml } from 'yaml';
import { adminPostStream } from '../../ops-agent/admin-client.js';
import type { FinalEvent, ProgressEvent } from '../../ops-agent/upgrade/progress.js';
import { STATE_FILE, type UpgradeState } from '../../ops-agent/upgrade/upgrade-state.js';
import { createGrpcClients, type GrpcClients, type SubscribeResponse } from './grpc-client.js';
import { TestSubscription } from './grpc-subscription.js';
import { runHearthCli, testConfig, type CliResult, type HearthProcess, type StatusJson } from '../support/hearth-process.js';
import { HttpClient } from './http-client.js';
import { sleep, waitFor } from '../support/wait.js';

export type HandoffKind = 'upgrade' | 'rollback' | 'reload';

export interface HandoffCall {
  /** 200 for a hand-off that ran (its result is in `final`); the catalog's status when refused. */
  readonly status: number;
  readonly lines: readonly ProgressEvent[];
  readonly final: FinalEvent | undefined;
  /** The JSON error of a refused request. */
  readonly error: { errorCode: string; message: string } | undefined;
}

/** POST /v1/<kind> on admin.sock; `onLine` sees each progress line as it arrives. */
export async function adminHandoff(
  h: HearthProcess,
  kind: HandoffKind,
  body?: Record<string, string>,
  onLine: (e: ProgressEvent) => void = () => undefined,
): Promise<HandoffCall> {
  const lines: ProgressEvent[] = [];
  let final: FinalEvent | undefined;
  const res = await adminPostStream(path.join(h.runDir, 'admin.sock'), `/v1/${kind}`, body, (line) => {
    if (line !== null && typeof line === 'object' && 'result' in line) {
      final = line as FinalEvent;
    } else {
      lines.push(line as ProgressEvent);
      onLine(line as ProgressEvent);
    }
  });
  const error = res.status === 200 ? undefined : (JSON.parse(res.body) as { errorCode: string; message: string });
  return { status: res.status, lines, final, error };
}

/** The real CLI against this agent (`--config`), from its dir. */
export function hearthCli(h: HearthProcess, args: readonly string[], timeoutMs = 110_000): Promise<CliResult> {
  return runHearthCli([...args, '--config', h.configPath], { cwd: h.dir, timeoutMs });
}

export async function readState(h: HearthProcess): Promise<UpgradeState> {
  return JSON.parse(await readFile(path.join(h.stateDir, STATE_FILE), 'utf8')) as UpgradeState;
}

/** Rewrites the configuration file: the test default with `over` merged in (or the text as is). */
export async function writeConfig(h: HearthProcess, over: Record<string, unknown> | string, workers?: number): Promise<void> {
  await writeFile(h.configPath, typeof over === 'string' ? over : toYaml(testConfig(over, workers)));
}

/** Inode of every app socket (grpc and http). */
export async function socketInodes(h: HearthProcess, apps: readonly string[] = ['demo', 'other']): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const app of apps) for (const kind of ['grpc', 'http'] as const) out[`${app}/${kind}`] = (await stat(h.socket(app, kind))).ino;
  return out;
}

export function pidsOf(s: StatusJson, generation?: number): number[] {
  return s.workers.filter((w) => generation === undefined || w.generation === generation).map((w) => w.pid);
}

/** Waits until the status satisfies `check` (e.g. a hand-off finished). */
export function waitForStatus(h: HearthProcess, what: string, check: (s: StatusJson) => boolean, timeoutMs = 60_000): Promise<StatusJson> {
  return waitFor(
    what,
    async () => {
      const s = await h.status();
      return check(s) ? s : undefined;
    },
    { timeoutMs, everyMs: 200 },
  );
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGSTOPs a process; the test's teardown SIGCONTs it if it still exists. */
export function stopProcess(t: ExecutionContext<unknown>, pid: number): void {
  process.kill(pid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
  });
}

export interface LoopStats {
  readonly ok: number;
  readonly failed: number;
  readonly errors: readonly string[];
}

/**
 * Sends requests back to back (one at a time) until stopped, counting successes and failures.
 * Covers the three client shapes of the acceptance criteria: a long-lived gRPC channel, an HTTP
 * keep-alive connection, and a new connection per request.
 */
export class RequestLoop {
  readonly #send: () => Promise<void>;
  readonly #close: () => void;
  #ok = 0;
  #failed = 0;
  readonly #errors: string[] = [];
  #running = true;
  readonly #done: Promise<void>;

  private constructor(send: () => Promise<void>, close: () => void) {
    this.#send = send;
    this.#close = close;
    this.#done = this.#loop();
  }

  static grpcUnary(h: HearthProcess, app = 'demo', token = `${app}-token`): RequestLoop {
    const c: GrpcClients = createGrpcClients(h.socket(app, 'grpc'), token, { 'grpc.primary_user_agent': `upgrade-loop/${Math.random()}` });
    return new RequestLoop(async () => {
      await c.metadata.GetMetadata({});
    }, () => c.close());
  }

  static httpKeepAlive(h: HearthProcess, app = 'demo', token = `${app}-token`): RequestLoop {
    const c = new HttpClient(h.socket(app, 'http'), { token, keepAlive: true });
    return new RequestLoop(() => expect200(c), () => c.close());
  }

  static httpNewConnection(h: HearthProcess, app = 'demo', token = `${app}-token`): RequestLoop {
    const c = new HttpClient(h.socket(app, 'http'), { token, keepAlive: false });
    return new RequestLoop(() => expect200(c), () => c.close());
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      try {
        await this.#send();
        this.#ok += 1;
      } catch (err) {
        this.#failed += 1;
        if (this.#errors.length < 20) this.#errors.push((err as Error).message);
      }
    }
  }

  get stats(): LoopStats {
    return { ok: this.#ok, failed: this.#failed, errors: [...this.#errors] };
  }

  /** Stops after the request in flight and closes the client. */
  async stop(): Promise<LoopStats> {
    this.#running = false;
    await this.#done;
    this.#close();
    return this.stats;
  }
}

async function expect200(c: HttpClient): Promise<void> {
  const r = await c.get('/v1.0/metadata');
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.text().slice(0, 200)}`);
}

/** The phases of a finished hand-off, in order, from its progress lines. */
export function phasesOf(call: HandoffCall): string[] {
  return Object.keys(call.final?.phases ?? {});
}

export interface StreamEndRecord {
  readonly code: number;
  readonly hearthCode: string | undefined;
}

/**
 * A pub/sub consumer that survives hand-offs the way an app should: one gRPC Subscribe stream at
 * a time, every delivery acked and counted, and when the stream ends (a draining worker ends it
 * with UNAVAILABLE + HEARTH_ERR_SUBSCRIPTION_CLOSED) it subscribes again on the same channel,
 * which reconnects to whichever generation serves.
 */
export class ResubscribingConsumer {
  readonly ends: StreamEndRecord[] = [];
  readonly errors: string[] = [];
  readonly #clients: GrpcClients;
  readonly #initial: Record<string, unknown>;
  readonly #counts = new Map<string, number>();
  #current: TestSubscription | undefined;
  #stopped = false;

  constructor(h: HearthProcess, initial: Record<string, unknown>, app = 'demo', token = `${app}-token`) {
    this.#clients = createGrpcClients(h.socket(app, 'grpc'), token, { 'grpc.primary_user_agent': `upgrade-consumer/${Math.random()}` });
    this.#initial = initial;
  }

  /** Resolves once the first stream is ready. */
  async start(): Promise<void> {
    await this.#subscribe();
  }

  async #subscribe(): Promise<void> {
    for (let attempt = 0; !this.#stopped; attempt++) {
      const sub = new TestSubscription(this.#clients, this.#initial);
      this.#current = sub;
      sub.stream.on('data', (r: SubscribeResponse) => {
        const d = r.delivery;
        if (r.response !== 'delivery' || !d) return;
        this.#counts.set(d.messageId, (this.#counts.get(d.messageId) ?? 0) + 1);
        sub.ack(d.deliveryId);
      });
      try {
        await sub.ready;
        // From here on, its end (a drain) is answered by subscribing again.
        void sub.ended.then((end) => {
          if (this.#stopped || this.#current !== sub) return;
          this.ends.push({ code: end.code, hearthCode: end.hearthCode });
          return this.#subscribe();
        }).catch((err: unknown) => this.errors.push((err as Error).message));
        return;
      } catch {
        // ended before ready (e.g. reached a worker just as it drained): try again shortly
        if (attempt > 50) throw new Error('could not resubscribe');
        await sleep(100);
      }
    }
  }

  received(): ReadonlySet<string> {
    return new Set(this.#counts.keys());
  }

  /** Deliveries beyond the first of each message (at-least-once redeliveries). */
  duplicates(): number {
    let n = 0;
    for (const c of this.#counts.values()) n += c - 1;
    return n;
  }

  stop(): void {
    this.#stopped = true;
    this.#current?.cancel();
    this.#clients.close();
  }
}
