// Client load for the upgrade-under-load acceptance test (test/upgrade/upgrade-under-load.test.ts):
// loops of every client shape the issue names — gRPC unary calls on one long-lived channel, HTTP
// keep-alive, a new connection per request (HTTP without an agent, a fresh gRPC client), and slow
// HTTP pulls — hammer one app until stopped. Every request is counted by kind and operation;
// every failure keeps its error and the hand-off phase it started and ended in; metadata answers
// say which generation served them. Loops are bounded in time and count, and every request has
// a timeout, so a hung hand-off shows up as a failure instead of a hung test.
import http from 'node:http';
import { callError, createGrpcClients, type GrpcClients, type MetadataResponse } from './grpc-client.js';
import { sleep } from '../support/wait.js';

export type ClientKind = 'grpc-channel' | 'grpc-new-client' | 'http-keep-alive' | 'http-new-connection' | 'http-slow-pull';

export const CLIENT_KINDS: readonly ClientKind[] = ['grpc-channel', 'grpc-new-client', 'http-keep-alive', 'http-new-connection', 'http-slow-pull'];

export interface LoadFailure {
  readonly kind: ClientKind;
  readonly op: string;
  /** The hand-off phase (e.g. "upgrade 3 → 1.0.0-a: drain") when the request was sent and when it failed. */
  readonly phaseAtStart: string;
  readonly phaseAtEnd: string;
  readonly ms: number;
  readonly error: string;
}

/** One slow pull: when it was sent and answered (epoch ms), and whether it succeeded. */
export interface SlowPull {
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  /** The answer said `Connection: close`: a draining generation answered it. */
  readonly lastOnConnection: boolean;
}

export interface UpgradeLoadOptions {
  readonly grpcSocket: string;
  readonly httpSocket: string;
  readonly token: string;
  /** Hard bound on the loops' running time. */
  readonly maxMs: number;
  /** Hard bound on iterations per loop. */
  readonly maxIterations: number;
  /** Per request. */
  readonly requestTimeoutMs: number;
  /** The `waitMs` of each slow pull (nothing is published to its topic, so it waits that long). */
  readonly slowPullWaitMs: number;
}

const LOOPS: Readonly<Record<ClientKind, number>> = {
  'grpc-channel': 4,
  'grpc-new-client': 1,
  'http-keep-alive': 3,
  'http-new-connection': 2,
  'http-slow-pull': 2,
};

export class UpgradeLoad {
  /** Set by the test as the hand-off advances; stamped on every failure. */
  phase = 'before the first upgrade';
  readonly failures: LoadFailure[] = [];
  readonly slowPulls: SlowPull[] = [];
  readonly #o: UpgradeLoadOptions;
  readonly #ok = new Map<string, number>();
  readonly #generations = new Map<ClientKind, Map<number, number>>();
  readonly #channel: GrpcClients;
  readonly #keepAlive = new http.Agent({ keepAlive: true });
  readonly #pullAgent = new http.Agent({ keepAlive: true });
  readonly #loops: Promise<void>[] = [];
  #running = false;
  #until = 0;

  constructor(options: UpgradeLoadOptions) {
    this.#o = options;
    // Its own user agent: a channel of its own, not shared through grpc-js's global subchannel pool.
    this.#channel = createGrpcClients(options.grpcSocket, options.token, { 'grpc.primary_user_agent': 'under-load-channel' });
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#until = Date.now() + this.#o.maxMs;
    for (const kind of CLIENT_KINDS) {
      for (let loop = 0; loop < LOOPS[kind]; loop++) this.#loops.push(this.#loop(kind, loop));
    }
  }

  /** Stops after the requests in flight, then closes every client. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.#channel.close();
    this.#keepAlive.destroy();
    this.#pullAgent.destroy();
  }

  /** Successful requests, by "kind op". */
  totals(): ReadonlyMap<string, number> {
    return this.#ok;
  }

  total(): number {
    let n = 0;
    for (const v of this.#ok.values()) n += v;
    return n;
  }

  /** Metadata answers by the generation that served them. */
  generations(kind: ClientKind): ReadonlyMap<number, number> {
    return this.#generations.get(kind) ?? new Map<number, number>();
  }

  servedBy(generation: number, kind?: ClientKind): number {
    const kinds = kind === undefined ? CLIENT_KINDS : [kind];
    return kinds.reduce((n, k) => n + (this.generations(k).get(generation) ?? 0), 0);
  }

  async #loop(kind: ClientKind, loop: number): Promise<void> {
    // The slow-pull lanes are staggered across one wait: started together, their gaps between
    // pulls coincided, and a drain could begin with no pull in flight (the test needs one).
    if (kind === 'http-slow-pull' && loop > 0) await sleep((this.#o.slowPullWaitMs * loop) / LOOPS[kind]);
    for (let i = 0; this.#running && i < this.#o.maxIterations && Date.now() < this.#until; i++) {
      const key = `${kind}-${loop}-${i}`;
      switch (kind) {
        case 'grpc-channel':
          await this.#grpcRound(kind, this.#channel, key);
          break;
        case 'grpc-new-client': {
          // A local subchannel pool: this client's calls open connections of their own.
          const fresh = createGrpcClients(this.#o.grpcSocket, this.#o.token, { 'grpc.use_local_subchannel_pool': 1 });
          try {
            await this.#grpcRound(kind, fresh, key);
          } finally {
            fresh.close();
          }
          break;
        }
        case 'http-keep-alive':
          await this.#httpRound(kind, this.#keepAlive, key);
          break;
        case 'http-new-connection':
          await this.#httpRound(kind, false, key);
          break;
        case 'http-slow-pull':
          await this.#slowPull();
          break;
      }
    }
  }

  /** Metadata (which generation), then a state write and a read of what was written. */
  async #grpcRound(kind: ClientKind, c: GrpcClients, key: string): Promise<void> {
    const md = await this.#request(kind, 'metadata', () => c.metadata.GetMetadata({}));
    if (md) this.#served(kind, metadataGeneration(md));
    const value = Buffer.from(`${key}@${Date.now()}`);
    const saved = await this.#request(kind, 'state.save', () => c.state.SaveState({ storeName: 'default', states: [{ key, value }] }));
    if (saved === undefined) return;
    await this.#request(kind, 'state.get', async () => {
      const got = await c.state.GetState({ storeName: 'default', key });
      if (!got.found || !Buffer.from(got.data).equals(value)) throw new Error(`read back ${got.found ? JSON.stringify(Buffer.from(got.data).toString()) : 'nothing'}, wrote ${JSON.stringify(value.toString())}`);
    });
  }

  async #httpRound(kind: ClientKind, agent: http.Agent | false, key: string): Promise<void> {
    const md = await this.#request(kind, 'metadata', async () => {
      const r = await this.#http(agent, 'GET', '/v1.0/metadata');
      expectStatus(r, 200);
      return JSON.parse(r.body) as { extended?: { generation?: string } };
    });
    if (md) this.#served(kind, Number(md.extended?.generation ?? Number.NaN));
    const value = `${key}@${Date.now()}`;
    const saved = await this.#request(kind, 'state.save', async () => {
      expectStatus(await this.#http(agent, 'POST', '/v1.0/state/default', [{ key, value }]), 204);
      return true;
    });
    if (saved === undefined) return;
    await this.#request(kind, 'state.get', async () => {
      const r = await this.#http(agent, 'GET', `/v1.0/state/default/${encodeURIComponent(key)}`);
      expectStatus(r, 200);
      if (JSON.parse(r.body) !== value) throw new Error(`read back ${r.body}, wrote ${JSON.stringify(value)}`);
    });
  }

  /** A long poll on a topic nobody publishes to: answered 200 with no delivery after waitMs. */
  async #slowPull(): Promise<void> {
    const start = Date.now();
    let lastOnConnection = false;
    const r = await this.#request('http-slow-pull', 'pull', async () => {
      const res = await this.#http(this.#pullAgent, 'POST', '/v1.0-hearth/subscriptions/default/under-load-slow/pull', {
        subscription: 'under-load-slow',
        max: 1,
        waitMs: this.#o.slowPullWaitMs,
      }, this.#o.slowPullWaitMs + this.#o.requestTimeoutMs);
      expectStatus(res, 200);
      lastOnConnection = res.connectionClose;
      return true;
    });
    this.slowPulls.push({ start, end: Date.now(), ok: r === true, lastOnConnection });
  }

  /** Runs one request with a timeout; counts it; returns its value, or undefined when it failed. */
  async #request<T>(kind: ClientKind, op: string, send: () => Promise<T>): Promise<T | undefined> {
    const phaseAtStart = this.phase;
    const start = Date.now();
    try {
      const value = await withTimeout(send(), this.#o.requestTimeoutMs + (op === 'pull' ? this.#o.slowPullWaitMs : 0));
      const name = `${kind} ${op}`;
      this.#ok.set(name, (this.#ok.get(name) ?? 0) + 1);
      return value;
    } catch (err) {
      this.failures.push({ kind, op, phaseAtStart, phaseAtEnd: this.phase, ms: Date.now() - start, error: describe(err) });
      return undefined;
    }
  }

  #served(kind: ClientKind, generation: number): void {
    const m = this.#generations.get(kind) ?? new Map<number, number>();
    m.set(generation, (m.get(generation) ?? 0) + 1);
    this.#generations.set(kind, m);
  }

  #http(
    agent: http.Agent | false,
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = this.#o.requestTimeoutMs,
  ): Promise<{ status: number; body: string; connectionClose: boolean }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { host: 'hearth', authorization: `Bearer ${this.#o.token}` };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.#o.httpSocket, method, path, headers, agent, timeout: timeoutMs }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, connectionClose: res.headers.connection === 'close' }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function metadataGeneration(md: MetadataResponse): number {
  return Number(md.generation);
}

function expectStatus(r: { status: number; body: string }, status: number): void {
  if (r.status !== status) throw new Error(`HTTP ${r.status} (expected ${status}): ${r.body.slice(0, 300)}`);
}

/** gRPC errors with their status and hearth code; others with their errno code. */
export function describe(err: unknown): string {
  try {
    const e = callError(err);
    return `gRPC ${e.code} ${e.hearthCode ?? ''} ${e.details}`.replace(/\s+/g, ' ').trim();
  } catch {
    const e = err as NodeJS.ErrnoException;
    return `${e.code ?? e.name ?? 'Error'}: ${e.message ?? String(err)}`;
  }
}

/** Rejects after ms; the request itself is left to its own timeout or the client's close. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  p.catch(() => undefined); // a late rejection after the timeout is not unhandled
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
