// The messages the ops-agent (cluster primary) and agent workers exchange over Node cluster IPC.
// During an upgrade two builds speak it at once, so every message carries the protocol version
// it is encoded in (`hearth`) and every received message is validated, never trusted: a worker
// of another build may send a shape this build does not know. Adding an optional field keeps the
// version; removing or changing the meaning of a field bumps it. Parsers ignore unknown fields.
//
// This module imports nothing from agent/ or ops-agent/: both sides of two different builds
// load it, so it may depend on nothing either side changes.

/**
 * Environment variable the primary sets to `1` on the workers of a generation it hands off to
 * (upgrade, reload, rollback) while that generation starts: such a worker reports ready only when
 * every component is healthy, so a new build or configuration that cannot reach its backends is
 * rolled back. Without it (first start, restart after a crash) a worker whose remote backend is
 * down still starts — degraded, unready in /readyz — and recovers when the backend returns.
 */
export const STRICT_START_ENV = 'HEARTH_STRICT_START';

/** The version this build writes. */
export const HANDOFF_PROTOCOL_VERSION = 1;
/** The versions this build reads. */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [1];

const MAX_ID_LENGTH = 128;
const MAX_TEXT_LENGTH = 4096;

interface Envelope {
  /** Protocol version the message is encoded in. */
  readonly hearth: number;
}

// ---- worker → primary ----

/** The worker is fully up: every listener bound, self-check passed (every component healthy in a strict start). */
export interface ReadyMessage extends Envelope {
  readonly type: 'ready';
  /** Build version (package.json) of the worker. */
  readonly version: string;
  /** Newest protocol version the worker speaks. */
  readonly protocol: number;
  readonly generation: number;
  readonly pid: number;
}

/** The worker could not start; it exits non-zero right after sending this. */
export interface FailedMessage extends Envelope {
  readonly type: 'failed';
  /** A stable HEARTH_ERR_* code. */
  readonly code: string;
  readonly message: string;
}

export interface ConnectionCounts {
  readonly grpc: number;
  readonly http: number;
  /** Since protocol 1 builds with the wire transport; absent from older workers. */
  readonly wire?: number;
}

export interface ComponentStatus {
  readonly name: string;
  readonly type: string;
  readonly healthy: boolean;
  readonly detail?: string;
}

export interface WorkerStatus {
  readonly pid: number;
  readonly version: string;
  readonly generation: number;
  readonly uptimeMs: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Open app connections by app id. */
  readonly connections: Readonly<Record<string, ConnectionCounts>>;
  readonly components: readonly ComponentStatus[];
  /** What each app holds against its budgets, by app id (absent from builds before it). */
  readonly held?: Readonly<Record<string, HeldCounts>>;
}

/** An app's open streams, delivery bytes buffered for it and invocations pending at it, in one worker. */
export interface HeldCounts {
  readonly streams: number;
  readonly bufferedBytes: number;
  readonly pendingCallbacks: number;
}

export interface StatusResponseMessage extends Envelope {
  readonly type: 'status-response';
  readonly requestId: string;
  readonly status: WorkerStatus;
}

/** One metric as prom-client `Registry.getMetricsAsJSON()` returns it. */
export interface MetricJson {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  readonly values: readonly MetricValueJson[];
}

export interface MetricValueJson {
  readonly value: number;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly metricName?: string;
}

export interface MetricsResponseMessage extends Envelope {
  readonly type: 'metrics-response';
  readonly requestId: string;
  readonly metrics: readonly MetricJson[];
}

/** Every server is closed and every component released; the worker exits 0 right after. */
export interface DrainedMessage extends Envelope {
  readonly type: 'drained';
}

/**
 * The worker asks for chunks of an app's host-wide quotas, or gives slots back (`returnSlots`).
 * An ops-agent of an older build does not know it and never answers: the worker then enforces
 * its share of the app's limits itself.
 */
export interface QuotaLeaseMessage extends Envelope, QuotaAmounts {
  readonly type: 'quota-lease';
  readonly requestId: string;
  readonly app: string;
  readonly returnSlots: number;
}

/** Chunks of one app's host-wide quotas: requests and bytes to spend, in-flight slots to hold. */
export interface QuotaAmounts {
  readonly requests: number;
  readonly bytes: number;
  readonly slots: number;
}

export type WorkerMessage = ReadyMessage | FailedMessage | StatusResponseMessage | MetricsResponseMessage | DrainedMessage | QuotaLeaseMessage;

// ---- primary → worker ----

export interface StatusRequestMessage extends Envelope {
  readonly type: 'status-request';
  readonly requestId: string;
}

export interface MetricsRequestMessage extends Envelope {
  readonly type: 'metrics-request';
  readonly requestId: string;
}

/** Stop accepting, finish in-flight work within deadlineMs, close components, send `drained`, exit 0. */
export interface DrainMessage extends Envelope {
  readonly type: 'drain';
  readonly deadlineMs: number;
}

/** What the host grants for one quota-lease (0s when it has nothing left right now). */
export interface QuotaGrantMessage extends Envelope, QuotaAmounts {
  readonly type: 'quota-grant';
  readonly requestId: string;
  readonly app: string;
}

export type PrimaryMessage = StatusRequestMessage | MetricsRequestMessage | DrainMessage | QuotaGrantMessage;

export type HandoffMessage = WorkerMessage | PrimaryMessage;

// ---- builders ----

const v = HANDOFF_PROTOCOL_VERSION;

export const workerMessages = {
  ready: (m: Omit<ReadyMessage, 'hearth' | 'type' | 'protocol'>): ReadyMessage => ({
    hearth: v,
    type: 'ready',
    protocol: HANDOFF_PROTOCOL_VERSION,
    version: m.version,
    generation: m.generation,
    pid: m.pid,
  }),
  failed: (code: string, message: string): FailedMessage => ({
    hearth: v,
    type: 'failed',
    code,
    message: message.slice(0, MAX_TEXT_LENGTH),
  }),
  statusResponse: (requestId: string, status: WorkerStatus): StatusResponseMessage => ({
    hearth: v,
    type: 'status-response',
    requestId,
    status,
  }),
  metricsResponse: (requestId: string, metrics: readonly MetricJson[]): MetricsResponseMessage => ({
    hearth: v,
    type: 'metrics-response',
    requestId,
    metrics,
  }),
  drained: (): DrainedMessage => ({ hearth: v, type: 'drained' }),
  quotaLease: (m: Omit<QuotaLeaseMessage, 'hearth' | 'type'>): QuotaLeaseMessage => ({ hearth: v, type: 'quota-lease', ...m }),
};

export const primaryMessages = {
  statusRequest: (requestId: string): StatusRequestMessage => ({ hearth: v, type: 'status-request', requestId }),
  metricsRequest: (requestId: string): MetricsRequestMessage => ({ hearth: v, type: 'metrics-request', requestId }),
  drain: (deadlineMs: number): DrainMessage => ({ hearth: v, type: 'drain', deadlineMs }),
  quotaGrant: (m: Omit<QuotaGrantMessage, 'hearth' | 'type'>): QuotaGrantMessage => ({ hearth: v, type: 'quota-grant', ...m }),
};

// ---- parsing ----

export type ParseResult<M> = { readonly ok: true; readonly message: M } | { readonly ok: false; readonly reason: string };

/** True for anything that claims to be a Hearth message (other IPC traffic is ignored silently). */
export function isHandoffEnvelope(value: unknown): value is Envelope & { readonly type?: unknown } {
  return isRecord(value) && 'hearth' in value;
}

export function parseWorkerMessage(value: unknown): ParseResult<WorkerMessage> {
  return parse(value, (m, type, p) => {
    switch (type) {
      case 'ready':
        p.str(m, 'version', MAX_ID_LENGTH);
        p.int(m, 'protocol', 1);
        p.int(m, 'generation', 0);
        p.int(m, 'pid', 1);
        return true;
      case 'failed':
        p.str(m, 'code', MAX_ID_LENGTH);
        p.str(m, 'message', MAX_TEXT_LENGTH);
        return true;
      case 'status-response':
        p.str(m, 'requestId', MAX_ID_LENGTH);
        checkStatus(m.status, 'status', p);
        return true;
      case 'metrics-response':
        p.str(m, 'requestId', MAX_ID_LENGTH);
        checkMetrics(m.metrics, 'metrics', p);
        return true;
      case 'drained':
        return true;
      case 'quota-lease':
        p.str(m, 'requestId', MAX_ID_LENGTH);
        p.str(m, 'app', MAX_ID_LENGTH);
        for (const k of ['requests', 'bytes', 'slots', 'returnSlots']) p.int(m, k, 0);
        return true;
      default:
        return false;
    }
  }) as ParseResult<WorkerMessage>;
}

export function parsePrimaryMessage(value: unknown): ParseResult<PrimaryMessage> {
  return parse(value, (m, type, p) => {
    switch (type) {
      case 'status-request':
      case 'metrics-request':
        p.str(m, 'requestId', MAX_ID_LENGTH);
        return true;
      case 'drain':
        p.int(m, 'deadlineMs', 0);
        return true;
      case 'quota-grant':
        p.str(m, 'requestId', MAX_ID_LENGTH);
        p.str(m, 'app', MAX_ID_LENGTH);
        for (const k of ['requests', 'bytes', 'slots']) p.int(m, k, 0);
        return true;
      default:
        return false;
    }
  }) as ParseResult<PrimaryMessage>;
}

type Rec = Record<string, unknown>;

/** Collects the first problem; checks after it are no-ops. */
class Problems {
  first: string | undefined;
  constructor(readonly at: string) {}
  fail(field: string, what: string): void {
    this.first ??= `${this.at}.${field}: ${what}`;
  }
  str(m: Rec, key: string, max: number, at = key): void {
    const x = m[key];
    if (typeof x !== 'string' || x.length === 0 || x.length > max) this.fail(at, `must be a string of 1..${max} characters`);
  }
  int(m: Rec, key: string, min: number, at = key): void {
    const x = m[key];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) this.fail(at, `must be an integer >= ${min}`);
  }
  num(m: Rec, key: string, at = key): void {
    const x = m[key];
    if (typeof x !== 'number' || !Number.isFinite(x)) this.fail(at, 'must be a finite number');
  }
}

function parse(value: unknown, check: (m: Rec, type: string, p: Problems) => boolean): ParseResult<HandoffMessage> {
  if (!isRecord(value)) return { ok: false, reason: 'not an object' };
  const version = value.hearth;
  if (typeof version !== 'number' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    return { ok: false, reason: `unsupported protocol version ${JSON.stringify(version)} (this build reads ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})` };
  }
  const type = value.type;
  if (typeof type !== 'string') return { ok: false, reason: 'type: must be a string' };
  const p = new Problems(type);
  if (!check(value, type, p)) return { ok: false, reason: `unknown message type "${type.slice(0, MAX_ID_LENGTH)}"` };
  if (p.first !== undefined) return { ok: false, reason: p.first };
  return { ok: true, message: value as unknown as HandoffMessage };
}

function checkStatus(s: unknown, at: string, p: Problems): void {
  if (!isRecord(s)) return p.fail(at, 'must be an object');
  p.int(s, 'pid', 1, `${at}.pid`);
  p.str(s, 'version', MAX_ID_LENGTH, `${at}.version`);
  p.int(s, 'generation', 0, `${at}.generation`);
  for (const k of ['uptimeMs', 'rssBytes', 'heapUsedBytes']) p.num(s, k, `${at}.${k}`);
  const conns = s.connections;
  if (!isRecord(conns)) {
    p.fail(`${at}.connections`, 'must be an object');
  } else {
    for (const [app, c] of Object.entries(conns)) {
      if (!isRecord(c)) {
        p.fail(`${at}.connections.${app}`, 'must be an object');
        continue;
      }
      p.int(c, 'grpc', 0, `${at}.connections.${app}.grpc`);
      p.int(c, 'http', 0, `${at}.connections.${app}.http`);
      if (c.wire !== undefined) p.int(c, 'wire', 0, `${at}.connections.${app}.wire`);
    }
  }
  if (s.held !== undefined) {
    if (!isRecord(s.held)) p.fail(`${at}.held`, 'must be an object');
    else {
      for (const [app, h] of Object.entries(s.held)) {
        if (!isRecord(h)) {
          p.fail(`${at}.held.${app}`, 'must be an object');
          continue;
        }
        for (const k of ['streams', 'bufferedBytes', 'pendingCallbacks']) p.int(h, k, 0, `${at}.held.${app}.${k}`);
      }
    }
  }
  const comps = s.components;
  if (!Array.isArray(comps)) return p.fail(`${at}.components`, 'must be an array');
  for (const [i, c] of (comps as unknown[]).entries()) {
    const ca = `${at}.components[${i}]`;
    if (!isRecord(c)) {
      p.fail(ca, 'must be an object');
      continue;
    }
    p.str(c, 'name', MAX_ID_LENGTH, `${ca}.name`);
    p.str(c, 'type', MAX_ID_LENGTH, `${ca}.type`);
    if (typeof c.healthy !== 'boolean') p.fail(`${ca}.healthy`, 'must be a boolean');
    if (c.detail !== undefined && typeof c.detail !== 'string') p.fail(`${ca}.detail`, 'must be a string');
  }
}

/** The aggregators prom-client's AggregatorRegistry knows; anything else would make it throw. */
const AGGREGATORS = new Set(['sum', 'first', 'min', 'max', 'average', 'omit']);

function checkMetrics(ms: unknown, at: string, p: Problems): void {
  if (!Array.isArray(ms)) return p.fail(at, 'must be an array');
  for (const [i, m] of (ms as unknown[]).entries()) {
    const ma = `${at}[${i}]`;
    if (!isRecord(m)) {
      p.fail(ma, 'must be an object');
      continue;
    }
    p.str(m, 'name', MAX_ID_LENGTH * 2, `${ma}.name`);
    p.str(m, 'type', MAX_ID_LENGTH, `${ma}.type`);
    if (typeof m.help !== 'string') p.fail(`${ma}.help`, 'must be a string');
    if (typeof m.aggregator !== 'string' || !AGGREGATORS.has(m.aggregator)) {
      p.fail(`${ma}.aggregator`, `must be one of ${[...AGGREGATORS].join(', ')}`);
    }
    if (!Array.isArray(m.values)) {
      p.fail(`${ma}.values`, 'must be an array');
      continue;
    }
    for (const [j, val] of (m.values as unknown[]).entries()) {
      if (!isRecord(val) || typeof val.value !== 'number' || !isRecord(val.labels)) {
        p.fail(`${ma}.values[${j}]`, 'must be { value: number, labels: object }');
      }
    }
  }
}

function isRecord(value: unknown): value is Rec {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
