// The contract every SDK transport implements (wire, gRPC, and the failover transport that wraps a
// local transport and sibling transports). Requests and responses are plain proto-loader shaped
// objects (camelCase, LOADER_OPTIONS of @hearth/protocol), so the typed client above is
// transport-agnostic and failover can replay a call on another transport unchanged.
//
// Errors are HearthClientError (from @hearth/protocol). Two cases drive failover replay:
// - connection failure before the request was written: HEARTH_ERR_AGENT_UNAVAILABLE, sent false
//   (always safe to replay elsewhere);
// - connection lost after the request was written: HEARTH_ERR_AGENT_UNAVAILABLE, sent true
//   (replay only idempotent or deadline-bounded calls).

export interface CallOptions {
  /** Remaining time budget in ms; absent or 0 = none. */
  deadlineMs?: number;
  /** The call is safe to run more than once (retries, failover replay). */
  idempotent?: boolean;
  metadata?: Record<string, string>;
  /** Aborting cancels the call: it fails with HEARTH_ERR_CANCELLED. */
  signal?: AbortSignal;
  /** W3C trace context. */
  traceparent?: string;
  /** 0 for the first try; retries/replays count up (logs, metrics). */
  attempt?: number;
}

/** One streaming call (server-streaming or bidirectional). */
export interface SdkStream extends AsyncIterable<object> {
  /** Sends one more request message (bidirectional methods). Ignored once the stream is done. */
  send(message: object): void;
  /** Half-close: the client sends nothing more; the server ends the stream. */
  end(): void;
  /** Abandons the stream: iteration ends and `done` resolves. */
  cancel(): void;
  /** Resolves when the stream ends cleanly (or was cancelled); rejects with HearthClientError on an error end. */
  readonly done: Promise<void>;
}

/** Emitted when the server announces it is going away (draining or protocol error). */
export interface GoawayEvent {
  /** HEARTH_ERR_DRAINING for a graceful drain, or the protocol error code. */
  readonly code: string;
  readonly message: string;
}

export interface TransportEvents {
  goaway: (event: GoawayEvent) => void;
  close: () => void;
}

export interface SdkTransport {
  /** For logs and failover events: 'wire:/run/hearth/apps/a/wire.sock', 'grpc:…', 'sibling:host-2'. */
  readonly name: string;
  /** `method` is the wire method name, 'hearth.runtime.v1.State/GetState'. */
  unary(method: string, request: object, options: CallOptions): Promise<object>;
  stream(method: string, first: object, options: CallOptions): SdkStream;
  /** Round trip to the agent; `draining` when the agent asked clients to go elsewhere. */
  ping?(timeoutMs: number): Promise<{ rttMs: number; draining: boolean }>;
  close(): Promise<void>;
  on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): this;
  off<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): this;
}

/** Builds a transport; the client takes one so failover can wrap several. */
export type SdkTransportFactory = () => SdkTransport;
