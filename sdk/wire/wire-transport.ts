// SdkTransport over the wire protocol: the SDK's default way to its local agent (wire.sock) and,
// over TCP+TLS, to a sibling agent. One multiplexed connection, opened lazily and replaced when it
// closes or the agent sends Goaway; a call the agent did not accept before its Goaway (sent:
// false) is retried on the new connection, which reaches the next generation during an upgrade.
import { EventEmitter } from 'node:events';
import { agentUnavailable, codecFor, describeEndpoint, deserialize, HearthClientError, notAcceptedBeforeGoaway, type ProtocolLogger as SdkLogger, serialize, silentLogger, WireConnection, type WireEndpoint, type WireRequestHeader } from '@hearth/protocol';
import type { CallOptions, SdkStream, SdkTransport, TransportEvents } from '../transport.js';
import { LazyWireStream } from './lazy-wire-stream.js';

/** How many times a call the agent never accepted (Goaway) is re-sent on a fresh connection. */
const NOT_SENT_RETRIES = 2;

export interface WireTransportOptions {
  readonly endpoint: WireEndpoint;
  /** The app's token, sent on every request. */
  readonly token: string;
  /** The calling app id: optional on wire.sock, required on a sibling's TCP port. */
  readonly caller?: string;
  readonly name?: string;
  readonly connectTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  readonly logger?: SdkLogger;
}

export class WireTransport extends EventEmitter implements SdkTransport {
  readonly name: string;
  readonly #options: WireTransportOptions;
  readonly #logger: SdkLogger;
  #connection: WireConnection | undefined;
  #connecting: Promise<WireConnection> | undefined;
  #closed = false;

  constructor(options: WireTransportOptions) {
    super();
    this.#options = options;
    this.name = options.name ?? `wire:${describeEndpoint(options.endpoint)}`;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'wire-transport', transport: this.name });
  }

  override on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): this {
    return super.on(event, listener);
  }

  override off<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): this {
    return super.off(event, listener);
  }

  async unary(method: string, request: object, options: CallOptions): Promise<object> {
    const codec = codecFor(method);
    const body = serialize(codec, request);
    const started = performance.now();
    for (let retry = 0; ; retry += 1) {
      const connection = await this.connection();
      try {
        const reply = await connection.unary(this.#header(method, options, started, retry), body, options.signal ? { signal: options.signal } : {});
        return deserialize(codec, reply.body);
      } catch (err) {
        if (retry < NOT_SENT_RETRIES && notAcceptedBeforeGoaway(err, connection)) continue;
        throw err;
      }
    }
  }

  stream(method: string, first: object, options: CallOptions): SdkStream {
    const codec = codecFor(method);
    const body = serialize(codec, first);
    const started = performance.now();
    return new LazyWireStream(codec, async (retry) => {
      const connection = await this.connection();
      const call = connection.openStream(this.#header(method, options, started, retry), body, options.signal ? { signal: options.signal } : {});
      return { call, connection };
    }, NOT_SENT_RETRIES);
  }

  async ping(timeoutMs: number): Promise<{ rttMs: number; draining: boolean }> {
    const connection = await this.connection();
    return connection.ping(timeoutMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const connecting = this.#connecting;
    const connection = this.#connection ?? (connecting ? await connecting.catch(() => undefined) : undefined);
    this.#connection = undefined;
    await connection?.close();
  }

  /** The current connection, (re)connecting when there is none able to take calls. */
  async connection(): Promise<WireConnection> {
    if (this.#closed) throw agentUnavailable(`the transport ${this.name} is closed`, false);
    if (this.#connection?.acceptingCalls) return this.#connection;
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<WireConnection> {
    const { endpoint, connectTimeoutMs, maxFrameBytes, logger } = this.#options;
    const connection = await WireConnection.connect({
      endpoint,
      ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
      ...(maxFrameBytes !== undefined ? { maxFrameBytes } : {}),
      ...(logger !== undefined ? { logger } : {}),
    });
    if (this.#closed) {
      connection.destroy();
      throw agentUnavailable(`the transport ${this.name} is closed`, false);
    }
    connection.on('goaway', (g) => this.emit('goaway', { code: g.code, message: g.message }));
    connection.on('close', (err) => {
      if (this.#connection === connection) this.#connection = undefined;
      this.#logger.debug({ err }, 'wire connection closed');
      this.emit('close');
    });
    this.#connection = connection;
    return connection;
  }

  #header(method: string, options: CallOptions, started: number, retry: number): WireRequestHeader {
    const header: { -readonly [K in keyof WireRequestHeader]: WireRequestHeader[K] } = { method, token: this.#options.token };
    if (this.#options.caller) header.caller = this.#options.caller;
    if (options.deadlineMs !== undefined && options.deadlineMs > 0) {
      const remaining = Math.floor(options.deadlineMs - (performance.now() - started));
      if (remaining <= 0) throw new HearthClientError('HEARTH_ERR_TIMEOUT', `the ${options.deadlineMs} ms deadline passed before ${method} was sent`, { sent: false });
      header.deadlineMs = remaining;
    }
    if (options.traceparent) header.traceparent = options.traceparent;
    if (options.idempotent) header.idempotent = true;
    const attempt = (options.attempt ?? 0) + retry;
    if (attempt > 0) header.attempt = attempt;
    if (options.metadata && Object.keys(options.metadata).length > 0) header.metadata = options.metadata;
    return header;
  }
}
