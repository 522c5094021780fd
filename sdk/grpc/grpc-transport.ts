// SdkTransport over gRPC (@grpc/grpc-js) to <runDir>/apps/<appId>/grpc.sock: the optional
// transport, for when an app prefers the polyglot contract. Messages are (de)serialised with the
// same codecs as the wire protocol; the token travels as `authorization: Bearer`, the budget as
// the gRPC deadline, and a failure's stable code comes back in the `hearth-error-code` trailer.
//
// @grpc/grpc-js is an optional peer dependency: an app that only uses the wire transport never
// installs it, so it is loaded when the first GrpcTransport is made, with a coded error naming
// the package when it is missing.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type * as GrpcJs from '@grpc/grpc-js';
import { AsyncQueue, codecFor, HearthClientError, type ProtocolLogger as SdkLogger, serialize, silentLogger } from '@hearth/protocol';
import type { CallOptions, SdkStream, SdkTransport, TransportEvents } from '../transport.js';

const ERROR_CODE_KEY = 'hearth-error-code';
const ERROR_DETAILS_KEY = 'hearth-error-details';
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface GrpcTransportOptions {
  /** The app's grpc.sock. */
  readonly socketPath: string;
  readonly token: string;
  readonly name?: string;
  readonly logger?: SdkLogger;
}

const identity = (b: Buffer): Buffer => b;

let grpc: typeof GrpcJs;

function loadGrpc(): typeof GrpcJs {
  if (grpc !== undefined) return grpc;
  try {
    grpc = createRequire(import.meta.url)('@grpc/grpc-js') as typeof GrpcJs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new HearthClientError('HEARTH_ERR_INVALID_ARGUMENT', "the gRPC transport needs the package @grpc/grpc-js: `npm install @grpc/grpc-js` (or use the default wire transport)", { sent: false, cause: err });
  }
  return grpc;
}

export class GrpcTransport extends EventEmitter implements SdkTransport {
  readonly name: string;
  readonly #client: GrpcJs.Client;
  readonly #token: string;
  readonly #logger: SdkLogger;
  #closed = false;

  constructor(options: GrpcTransportOptions) {
    super();
    loadGrpc();
    this.name = options.name ?? `grpc:${options.socketPath}`;
    this.#token = options.token;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'grpc-transport', transport: this.name });
    this.#client = new grpc.Client(`unix://${options.socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
    this.#watchConnectivity(grpc.connectivityState.IDLE);
  }

  override on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): this {
    return super.on(event, listener);
  }

  override off<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): this {
    return super.off(event, listener);
  }

  unary(method: string, request: object, options: CallOptions): Promise<object> {
    const codec = codecFor(method);
    const body = serialize(codec, request);
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(new HearthClientError('HEARTH_ERR_CANCELLED', 'the call was cancelled before it was sent', { sent: false }));
        return;
      }
      const call = this.#client.makeUnaryRequest(
        `/${method}`,
        identity,
        (b: Buffer) => codec.deserializeResponse(b) as object,
        body,
        this.#metadata(options),
        this.#callOptions(options),
        (err, value) => {
          options.signal?.removeEventListener('abort', onAbort);
          if (err) reject(toClientError(err));
          else resolve(value ?? {});
        },
      );
      const onAbort = (): void => call.cancel();
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  stream(method: string, first: object, options: CallOptions): SdkStream {
    const codec = codecFor(method);
    const body = serialize(codec, first);
    const deserialize = (b: Buffer): object => codec.deserializeResponse(b) as object;
    const md = this.#metadata(options);
    const callOptions = this.#callOptions(options);
    if (codec.requestStream) {
      const call = this.#client.makeBidiStreamRequest(`/${method}`, identity, deserialize, md, callOptions);
      call.write(body);
      return new GrpcStream(call, (m) => call.write(serialize(codec, m)), () => call.end(), options.signal);
    }
    const call = this.#client.makeServerStreamRequest(`/${method}`, identity, deserialize, body, md, callOptions);
    return new GrpcStream(call, () => undefined, () => undefined, options.signal);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#client.close();
    }
    return Promise.resolve();
  }

  #metadata(options: CallOptions): GrpcJs.Metadata {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${this.#token}`);
    if (options.traceparent) md.set('traceparent', options.traceparent);
    for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
    return md;
  }

  #callOptions(options: CallOptions): GrpcJs.CallOptions {
    return options.deadlineMs !== undefined && options.deadlineMs > 0 ? { deadline: Date.now() + options.deadlineMs } : {};
  }

  /** A channel leaving READY means the connection to the agent closed: tell listeners (failover). */
  #watchConnectivity(last: GrpcJs.connectivityState): void {
    if (this.#closed) return;
    const channel = this.#client.getChannel();
    let state: GrpcJs.connectivityState;
    try {
      state = channel.getConnectivityState(false);
    } catch {
      return;
    }
    if (last === grpc.connectivityState.READY && state !== grpc.connectivityState.READY) {
      this.#logger.debug({ state }, 'gRPC channel left READY');
      this.emit('close');
    }
    channel.watchConnectivityState(state, Infinity, () => this.#watchConnectivity(state));
  }
}

type GrpcStreamCall = GrpcJs.ClientReadableStream<object> | GrpcJs.ClientDuplexStream<Buffer, object>;

class GrpcStream implements SdkStream {
  readonly done: Promise<void>;
  readonly #call: GrpcStreamCall;
  readonly #send: (message: object) => void;
  readonly #end: () => void;
  readonly #queue = new AsyncQueue<object>();
  #finished = false;
  #cancelled = false;

  constructor(call: GrpcStreamCall, send: (m: object) => void, end: () => void, signal: AbortSignal | undefined) {
    this.#call = call;
    this.#send = send;
    this.#end = end;
    this.done = new Promise<void>((resolve, reject) => {
      call.on('data', (m: object) => this.#queue.push(m));
      call.on('error', (err: GrpcJs.ServiceError) => {
        this.#finished = true;
        if (this.#cancelled && err.code === grpc.status.CANCELLED) {
          this.#queue.finish();
          resolve();
          return;
        }
        const e = toClientError(err);
        this.#queue.fail(e);
        reject(e);
      });
      call.on('status', (s: GrpcJs.StatusObject) => {
        if (s.code !== grpc.status.OK) return; // 'error' reports it
        this.#finished = true;
        this.#queue.finish();
        resolve();
      });
    });
    this.done.catch(() => undefined);
    signal?.addEventListener('abort', () => call.cancel(), { once: true });
  }

  send(message: object): void {
    if (!this.#finished) this.#send(message);
  }

  end(): void {
    if (!this.#finished) this.#end();
  }

  cancel(): void {
    if (this.#finished || this.#cancelled) return;
    this.#cancelled = true;
    this.#call.cancel();
  }

  [Symbol.asyncIterator](): AsyncIterator<object> {
    return this.#queue[Symbol.asyncIterator]();
  }
}

/** A grpc-js error as a coded HearthClientError: the agent's trailer code when it sent one. */
function toClientError(err: GrpcJs.ServiceError): HearthClientError {
  const trailers = err.metadata as GrpcJs.Metadata | undefined;
  const code = trailers?.get(ERROR_CODE_KEY)[0];
  if (typeof code === 'string') {
    return new HearthClientError(code, err.details, { details: parseDetails(trailers?.get(ERROR_DETAILS_KEY)[0]), sent: true, cause: err });
  }
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      // grpc-js says "No connection established" when the call never left this process.
      return new HearthClientError('HEARTH_ERR_AGENT_UNAVAILABLE', `the agent is unreachable: ${err.details}`, {
        sent: !/No connection established/i.test(err.details),
        cause: err,
      });
    case grpc.status.DEADLINE_EXCEEDED:
      return new HearthClientError('HEARTH_ERR_TIMEOUT', err.details, { sent: true, cause: err });
    case grpc.status.CANCELLED:
      return new HearthClientError('HEARTH_ERR_CANCELLED', err.details, { sent: true, cause: err });
    default:
      return new HearthClientError('HEARTH_ERR_INTERNAL', `gRPC ${grpc.status[err.code]}: ${err.details}`, { sent: true, cause: err });
  }
}

function parseDetails(raw: GrpcJs.MetadataValue | undefined): Record<string, string> {
  if (typeof raw !== 'string') return {};
  try {
    const parsed = JSON.parse(raw) as Record<string, unknown>;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
    return out;
  } catch {
    return {};
  }
}
