// Shared by the end-to-end tests (one real `hearth start` per test file): connections of their
// own, finding out which worker served a request (from the worker's debug log line carrying the
// request id), coded-error assertions for both transports, and a Prometheus text parser.
import { randomUUID } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { callError, createGrpcClients, type CallError, type DeliveryMsg, type GrpcClients, type SubscribeResponse } from '../helpers/grpc-client.js';
import type { TestSubscription } from '../helpers/grpc-subscription.js';
import { type HearthProcess } from '../support/hearth-process.js';
import { HttpClient, type HttpResponse } from '../helpers/http-client.js';
import { waitFor } from '../support/wait.js';

export const TOKENS = { demo: 'demo-token', other: 'other-token' } as const;
export type AppId = keyof typeof TOKENS;

export const uniq = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

export interface ErrorBody {
  errorCode: string;
  message: string;
  details?: Record<string, unknown>;
}

let connectionSeq = 0;

/**
 * gRPC stubs on one HTTP/2 connection of their own: the stubs share it (same channel options,
 * global subchannel pool), and no other call of the test process does (the options differ).
 * `token`: the app's by default, `null` for none.
 */
export function grpcConnection(h: HearthProcess, app: string, token: string | null | undefined = tokenOf(app)): GrpcClients {
  return createGrpcClients(h.socket(app, 'grpc'), token ?? undefined, { 'grpc.primary_user_agent': `hearth-e2e/${process.pid}/${++connectionSeq}` });
}

/** Closes what `open` returned when the test ends, pass or fail. */
export function closing<T extends { close(): void }>(t: ExecutionContext<unknown>, value: T): T {
  t.teardown(() => value.close());
  return value;
}

export function tokenOf(app: string): string | undefined {
  return app === 'demo' || app === 'other' ? TOKENS[app] : undefined;
}

/** An HTTP client for an app's http.sock (keep-alive unless told otherwise). */
export function httpClient(h: HearthProcess, app: string, options: { token?: string; keepAlive?: boolean } = {}): HttpClient {
  const token = options.token ?? tokenOf(app);
  return new HttpClient(h.socket(app, 'http'), { ...(token !== undefined ? { token } : {}), keepAlive: options.keepAlive ?? true });
}

/**
 * The pid of the worker that logged a line with this request id (needs logLevel debug for
 * successful gRPC calls: their `grpc call` line is debug). Output arrives asynchronously, hence the wait.
 */
export async function servedBy(h: HearthProcess, requestId: string): Promise<number> {
  const needle = `"requestId":"${requestId}"`;
  return waitFor(
    `a log line with request id ${requestId}`,
    async () => {
      for (const line of h.output().split('\n')) {
        if (!line.includes(needle)) continue;
        const parsed = JSON.parse(line) as { pid?: unknown; role?: unknown };
        if (parsed.role === 'worker' && typeof parsed.pid === 'number') return parsed.pid;
      }
      return undefined;
    },
    { timeoutMs: 30_000, everyMs: 50 },
  );
}

/** Which worker holds this gRPC connection: a metadata call with a request id, then its log line. */
export async function grpcWorker(h: HearthProcess, clients: GrpcClients): Promise<number> {
  const id = uniq('probe');
  const md = clients.authMetadata();
  md.set('x-request-id', id);
  await clients.metadata.GetMetadata({}, md);
  return servedBy(h, id);
}

/**
 * Which worker holds this client's keep-alive HTTP connection: a request the agent rejects (only
 * rejected requests are logged), then its log line. Use the client sequentially to stay on it.
 */
export async function httpWorker(h: HearthProcess, client: HttpClient): Promise<number> {
  const id = uniq('probe');
  const res = await client.get('/v1.0/state/no-such-store/probe', { headers: { 'x-request-id': id } });
  if (res.headers['hearth-error-code'] !== 'HEARTH_ERR_STORE_NOT_FOUND') throw new Error(`probe answered ${res.status}: ${res.text()}`);
  return servedBy(h, id);
}

export async function workerPids(h: HearthProcess): Promise<number[]> {
  const s = await h.status();
  return s.workers.filter((w) => w.state === 'ready').map((w) => w.pid);
}

/**
 * One gRPC connection per worker: new connections until each ready worker holds one (bounded;
 * the kernel spreads accepts over the workers). The extra connections are closed.
 */
export async function grpcConnectionPerWorker(h: HearthProcess, app: string, token?: string): Promise<Map<number, GrpcClients>> {
  const pids = await workerPids(h);
  const found = new Map<number, GrpcClients>();
  for (let i = 0; i < 200 && found.size < pids.length; i++) {
    const c = grpcConnection(h, app, token ?? tokenOf(app));
    const pid = await grpcWorker(h, c);
    if (found.has(pid) || !pids.includes(pid)) c.close();
    else found.set(pid, c);
  }
  if (found.size < pids.length) {
    for (const c of found.values()) c.close();
    throw new Error(`200 new connections did not reach every worker (${pids.join(', ')})`);
  }
  return found;
}

/** As grpcConnectionPerWorker, for keep-alive HTTP clients (use each one sequentially). */
export async function httpClientPerWorker(h: HearthProcess, app: string): Promise<Map<number, HttpClient>> {
  const pids = await workerPids(h);
  const found = new Map<number, HttpClient>();
  for (let i = 0; i < 200 && found.size < pids.length; i++) {
    const c = httpClient(h, app);
    const pid = await httpWorker(h, c);
    if (found.has(pid) || !pids.includes(pid)) c.close();
    else found.set(pid, c);
  }
  if (found.size < pids.length) {
    for (const c of found.values()) c.close();
    throw new Error(`200 new connections did not reach every worker (${pids.join(', ')})`);
  }
  return found;
}

/** Asserts an HTTP error: status, `hearth-error-code` header and `errorCode` in the JSON body. */
export function assertHttpError(t: ExecutionContext<unknown>, res: HttpResponse, status: number, code: string, what = ''): ErrorBody | undefined {
  const label = `${what} ${res.status} ${res.text().slice(0, 300)}`.trim();
  t.is(res.status, status, label);
  t.is(res.headers['hearth-error-code'], code, label);
  let body: ErrorBody | undefined;
  try {
    body = res.json<ErrorBody>();
  } catch {
    t.fail(`not a JSON error body: ${label}`);
    return undefined;
  }
  t.is(body.errorCode, code, label);
  return body;
}

/** Asserts a gRPC call fails with this status and `hearth-error-code` trailer. */
export async function assertGrpcError(
  t: ExecutionContext<unknown>,
  call: Promise<unknown>,
  status: grpc.status,
  code: string | undefined,
  what = '',
): Promise<CallError | undefined> {
  let e: CallError;
  try {
    await call;
    t.fail(`${what}: expected ${code ?? grpc.status[status]}, the call succeeded`);
    return undefined;
  } catch (err) {
    e = callError(err);
  }
  t.is(e.code, status, `${what}: ${grpc.status[e.code]} ${e.details}`);
  t.is(e.hearthCode, code, `${what}: ${e.details}`);
  return e;
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Prometheus text format → samples (comments skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of every sample of `name` whose labels include `match`. */
export function metricSum(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/**
 * Records every delivery a Subscribe stream gets and (unless told not to) acks it at once:
 * for tests that care about which messages arrived and how often, not about their order.
 */
export class Collector {
  readonly sub: TestSubscription;
  readonly deliveries: DeliveryMsg[] = [];
  readonly #counts = new Map<string, number>();

  constructor(sub: TestSubscription, autoAck = true) {
    this.sub = sub;
    sub.stream.on('data', (r: SubscribeResponse) => {
      const d = r.delivery;
      if (r.response !== 'delivery' || !d) return;
      this.deliveries.push(d);
      this.#counts.set(d.messageId, (this.#counts.get(d.messageId) ?? 0) + 1);
      if (autoAck) sub.ack(d.deliveryId);
    });
  }

  count(messageId: string): number {
    return this.#counts.get(messageId) ?? 0;
  }

  messageIds(): Set<string> {
    return new Set(this.#counts.keys());
  }
}

/** Waits (bounded) until the collectors together received every one of `messageIds`. */
export async function receivedAll(collectors: readonly Collector[], messageIds: readonly string[], timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `${messageIds.length} messages`,
    async () => {
      const seen = new Set<string>();
      for (const c of collectors) for (const id of c.messageIds()) seen.add(id);
      return messageIds.every((id) => seen.has(id)) ? true : undefined;
    },
    { timeoutMs, everyMs: 50 },
  );
}
