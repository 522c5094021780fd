// The two ends of service invocation as any gRPC app sees them, with real grpc-js clients built
// from proto/: InvokeClient calls hearth.runtime.v1.Invoke/InvokeService; CallbackApp holds an
// AppCallback/Connect stream and answers the invocations the agent pushes with a handler.
import * as grpc from '@grpc/grpc-js';
import { loadRuntimeProto } from './runtime-proto.js';
import { callError, type CallError } from './grpc-client.js';

export interface InvocationMsg {
  id: string;
  method: string;
  data: Buffer;
  contentType: string;
  metadata: Record<string, string>;
  callerAppId: string;
  deadlineMs: number;
  traceparent: string;
  httpVerb: string;
}

export interface InvokeResponseMsg {
  data: Buffer;
  contentType: string;
  metadata: Record<string, string>;
}

/** What a handler answers: a result, an app error, or `null` to never answer. */
export type Answer =
  | { readonly data?: Buffer; readonly contentType?: string; readonly metadata?: Record<string, string> }
  | { readonly error: { readonly code: string; readonly message: string } }
  | null;

export type Handler = (inv: InvocationMsg) => Answer | Promise<Answer>;

type Ctor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => grpc.Client;

let pkg: grpc.GrpcObject | undefined;
function ctor(name: 'Invoke' | 'AppCallback'): Ctor {
  pkg ??= grpc.loadPackageDefinition(loadRuntimeProto());
  const runtime = ((pkg.hearth as grpc.GrpcObject).runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return runtime[name] as unknown as Ctor;
}

function bearer(token: string | undefined, extra: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

export interface InvokeOptions {
  /** Relative budget in ms (grpc-timeout). */
  readonly timeoutMs?: number;
  /** Extra gRPC metadata (e.g. traceparent). */
  readonly headers?: Record<string, string>;
}

export class InvokeClient {
  readonly #client: grpc.Client;
  readonly #token: string | undefined;

  constructor(socket: string, token: string | undefined) {
    this.#client = new (ctor('Invoke'))(`unix:${socket}`, grpc.credentials.createInsecure());
    this.#token = token;
  }

  /** Starts a call; `response` settles with the answer or the grpc error. */
  start(request: Record<string, unknown>, options: InvokeOptions = {}): { call: grpc.ClientUnaryCall; response: Promise<InvokeResponseMsg> } {
    let call!: grpc.ClientUnaryCall;
    const callOptions: grpc.CallOptions = options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
    const response = new Promise<InvokeResponseMsg>((resolve, reject) => {
      const fn = (this.#client as unknown as Record<string, (...a: unknown[]) => grpc.ClientUnaryCall>).InvokeService!;
      call = fn.call(this.#client, request, bearer(this.#token, options.headers), callOptions, (err: grpc.ServiceError | null, res: InvokeResponseMsg) =>
        err ? reject(err) : resolve(res),
      );
    });
    return { call, response };
  }

  invoke(request: Record<string, unknown>, options: InvokeOptions = {}): Promise<InvokeResponseMsg> {
    return this.start(request, options).response;
  }

  close(): void {
    this.#client.close();
  }
}

/** The coded failure of a call that must fail; throws when it succeeded. */
export async function failure(p: Promise<unknown>): Promise<CallError & { detailsJson: Record<string, unknown> | undefined }> {
  try {
    await p;
  } catch (err) {
    const e = callError(err);
    const raw = (err as grpc.ServiceError).metadata?.get('hearth-error-details')[0];
    return { ...e, detailsJson: typeof raw === 'string' ? (JSON.parse(raw) as Record<string, unknown>) : undefined };
  }
  throw new Error('the call succeeded');
}

export interface CallbackAppOptions {
  readonly methods?: string[];
  readonly maxConcurrency?: number;
  /** First message to send instead of `register` (protocol tests). */
  readonly first?: Record<string, unknown>;
}

/** One app instance holding an AppCallback stream. */
export class CallbackApp {
  readonly received: InvocationMsg[] = [];
  instanceId = '';
  /** Settles when the stream ends: the grpc error, or undefined for a clean end. */
  readonly ended: Promise<CallError | undefined>;
  readonly #client: grpc.Client;
  readonly #stream: grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
  readonly #handler: Handler;
  #inFlight = 0;

  private constructor(socket: string, token: string | undefined, handler: Handler) {
    this.#handler = handler;
    this.#client = new (ctor('AppCallback'))(`unix:${socket}`, grpc.credentials.createInsecure(), {
      // A connection of its own, so closing one instance does not close another's.
      'grpc.use_local_subchannel_pool': 1,
    });
    const fn = (this.#client as unknown as Record<string, (md: grpc.Metadata) => grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>>)
      .Connect!;
    this.#stream = fn.call(this.#client, bearer(token));
    this.ended = new Promise((resolve) => {
      this.#stream.on('error', (err) => resolve(callError(err)));
      this.#stream.on('end', () => resolve(undefined));
    });
  }

  /** Opens the stream and registers; resolves once the agent answered `registered` (or the stream ended). */
  static async connect(socket: string, token: string | undefined, handler: Handler, options: CallbackAppOptions = {}): Promise<CallbackApp> {
    const app = new CallbackApp(socket, token, handler);
    const registered = new Promise<void>((resolve) => {
      app.#stream.on('data', (msg: { message?: string; registered?: { instanceId: string }; invocation?: InvocationMsg }) => {
        if (msg.message === 'registered' && msg.registered) {
          app.instanceId = msg.registered.instanceId;
          resolve();
        } else if (msg.message === 'invocation' && msg.invocation) {
          app.#invoked(msg.invocation);
        }
      });
      void app.ended.then(() => resolve());
    });
    app.#stream.write(options.first ?? { register: { methods: options.methods ?? [], maxConcurrency: options.maxConcurrency ?? 0 } });
    await registered;
    return app;
  }

  /** Invocations pushed and not yet answered by the handler. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Sends a raw message on the stream (protocol tests). */
  write(message: Record<string, unknown>): void {
    this.#stream.write(message);
  }

  /** Half-closes (the agent ends the stream cleanly). */
  end(): void {
    this.#stream.end();
  }

  /** Cancels the stream and closes the channel. */
  close(): void {
    this.#stream.cancel();
    this.#client.close();
  }

  #invoked(inv: InvocationMsg): void {
    this.received.push(inv);
    this.#inFlight += 1;
    Promise.resolve()
      .then(() => this.#handler(inv))
      .then(
        (answer) => {
          this.#inFlight -= 1;
          if (answer === null || this.#stream.destroyed) return;
          if ('error' in answer) this.#stream.write({ result: { id: inv.id, error: answer.error } });
          else this.#stream.write({ result: { id: inv.id, data: answer.data ?? Buffer.alloc(0), contentType: answer.contentType ?? '', metadata: answer.metadata ?? {} } });
        },
        (err: unknown) => {
          this.#inFlight -= 1;
          this.#stream.write({ result: { id: inv.id, error: { code: 'HANDLER_THREW', message: String(err) } } });
        },
      );
  }
}
