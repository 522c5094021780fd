// The messages between the bench parent and a forked load worker (JSON over the fork IPC channel).
// The load worker owns the clients; the parent owns the servers and samples their CPU and memory
// at the phase messages, so the sampling window is exactly the measured window.

/** What the load worker talks to. */
export type TargetSpec =
  | { kind: 'raw-echo'; socketPath: string; payloadBytes: number }
  | { kind: 'grpc-echo'; socketPath: string; protoPath: string; payloadBytes: number }
  | { kind: 'http-echo'; socketPath: string; payloadBytes: number }
  | HearthGrpcTarget
  | { kind: 'hearth-http'; op: StateOp; socketPath: string; token: string; payloadBytes: number }
  | HearthWireTarget
  | HearthInvokeTarget
  /** Baseline: the app on ioredis, straight to the redis-server Hearth's Redis rows use. */
  | { kind: 'redis-direct'; op: StateOp; url: string; payloadBytes: number }
  /** Baseline: the app's own kafkajs producer, straight to the cluster Hearth's Kafka rows use. */
  | { kind: 'kafka-direct'; brokers: string[]; topic: string; payloadBytes: number };

export type StateOp = 'get' | 'save';

interface HearthGrpcCommon { kind: 'hearth-grpc'; socketPath: string; protoRoot: string; token: string; payloadBytes: number }

/** Hearth's gRPC API: a state get or save on the store `storeName`, or a publish on `pubsubName`. */
export type HearthGrpcTarget =
  | HearthGrpcCommon & { op: StateOp; storeName: string }
  | HearthGrpcCommon & { op: 'publish'; pubsubName: string; topic: string };

/** Hearth's wire transport (wire.sock): a state get or save on the store `storeName`. */
export interface HearthWireTarget {
  kind: 'hearth-wire';
  op: StateOp;
  storeName: string;
  socketPath: string;
  token: string;
  payloadBytes: number;
}

/**
 * Invoke (issue #5): the caller app, on its own socket (wire.sock, grpc.sock or http.sock), invokes
 * method `echo` of app `appId`, whose instances echo the payload. Over HTTP that is Dapr's
 * `POST /v1.0/invoke/<appId>/method/echo` with the app's token as a bearer token.
 */
export interface HearthInvokeTarget {
  kind: 'hearth-invoke';
  transport: 'wire' | 'grpc' | 'http';
  appId: string;
  socketPath: string;
  token: string;
  /** gRPC only: where proto/ is. */
  protoRoot: string;
  payloadBytes: number;
}

/** Open loop: requests at fixed intervals from the start, latency from the intended send time. */
export interface OpenLoopJob {
  type: 'open-loop';
  target: TargetSpec;
  rate: number;
  warmupMs: number;
  durationMs: number;
  connections: number;
  drainTimeoutMs: number;
}

/** Closed loop: `concurrency` requests in flight, each lane sends again as soon as one completes. */
export interface ClosedLoopJob {
  type: 'closed-loop';
  target: TargetSpec;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  drainTimeoutMs: number;
}

/** Open `connections` connections, one request on each, then hold them until told to release. */
export interface HoldConnectionsJob {
  type: 'hold-connections';
  target: TargetSpec;
  connections: number;
  openTimeoutMs: number;
  holdTimeoutMs: number;
}

export type LoadJob = OpenLoopJob | ClosedLoopJob | HoldConnectionsJob;

export interface LatencySummary {
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  count: number;
  /** The HDR histogram (microseconds), compressed base64, for later analysis. */
  encoded: string;
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** Completed requests per second over the measured window. */
  achievedRate: number;
  measuredMs: number;
  latency: LatencySummary;
  /** Open loop only: how late requests left relative to their schedule (generator health). */
  sendLag: LatencySummary | null;
  errorSamples: string[];
  /** Failed requests by error code (HEARTH_ERR_* on the wire, `grpc <status>` on gRPC, `other`). */
  errorCodes?: Record<string, number>;
  /** CPU of the load worker itself over the measured window, % of one core (is it the bottleneck?). */
  generatorCpuPercent: number;
}

export interface HoldResult {
  opened: number;
  errors: number;
  errorSamples: string[];
}

/** Parent → worker. */
export type ParentMessage = { type: 'job'; job: LoadJob } | { type: 'release' };

/** Worker → parent. */
export type WorkerMessage =
  | { type: 'phase'; phase: 'measuring' | 'measured' | 'holding' }
  | { type: 'load-result'; result: LoadResult }
  | { type: 'hold-result'; result: HoldResult }
  | { type: 'failed'; error: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isParentMessage(value: unknown): value is ParentMessage {
  return isObject(value) && (value.type === 'release' || (value.type === 'job' && isObject(value.job)));
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (!isObject(value)) return false;
  switch (value.type) {
    case 'phase':
      return value.phase === 'measuring' || value.phase === 'measured' || value.phase === 'holding';
    case 'load-result':
    case 'hold-result':
      return isObject(value.result);
    case 'failed':
      return typeof value.error === 'string';
    default:
      return false;
  }
}
