// createClient(): the SDK's entry point. It resolves the app's identity and socket directory (from
// options, else HEARTH_APP_ID / HEARTH_TOKEN / HEARTH_RUN_DIR / HEARTH_SIBLINGS), builds one
// SdkTransport — wire (default) or gRPC to the local agent, wrapped in the failover transport when
// siblings are configured — and hangs the typed building-block clients on it.
import path from 'node:path';
import { HearthClientError, type ProtocolLogger as SdkLogger, silentLogger } from '@hearth/protocol';
import { ConfigurationClient } from './blocks/configuration-client.js';
import { InvokeClient, type InvokeOptions, type InvokeReply } from './blocks/invoke-client.js';
import { LockClient } from './blocks/lock-client.js';
import { PubSubClient } from './blocks/pubsub-client.js';
import type { BlockContext } from './blocks/request-options.js';
import { SequencerClient } from './blocks/sequencer-client.js';
import { serve, type Handler, type ServeHandle, type ServeOptions } from './blocks/serve.js';
import { StateClient } from './blocks/state-client.js';
import { createFailoverTransport, type FailoverTimings, type FailoverTransport } from './failover/failover-transport.js';
import { siblingsFromEnv, siblingTlsFromEnv, type SiblingEndpointInput, type SiblingTls } from './failover/sibling-list.js';
import { GrpcTransport } from './grpc/grpc-transport.js';
import type { Value } from './payload.js';
import type { SdkTransport, SdkTransportFactory } from './transport.js';
import { WireTransport } from './wire/wire-transport.js';

export const DEFAULT_RUN_DIR = '/run/hearth';

export interface ClientOptions {
  /** Default HEARTH_APP_ID. */
  readonly appId?: string;
  /** Default HEARTH_TOKEN. */
  readonly token?: string;
  /** The agent's socket directory; default HEARTH_RUN_DIR, else /run/hearth. */
  readonly runDir?: string;
  /** How to reach the local agent: 'wire' (default, wire.sock) or 'grpc' (grpc.sock). */
  readonly transport?: 'wire' | 'grpc';
  /** Sibling agents (ranked) to fail over to; default HEARTH_SIBLINGS. Empty = no failover. */
  readonly siblings?: readonly (SiblingEndpointInput | string)[];
  /** TLS material for the siblings' ports; default HEARTH_SIBLING_CA / _CERT / _KEY / _SERVERNAME. */
  readonly siblingTls?: SiblingTls;
  /** Failover tuning (heartbeat, probe timeouts, failback hysteresis). */
  readonly failover?: Partial<FailoverTimings>;
  readonly logger?: SdkLogger;
  /** Where defaults come from; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export class HearthClient {
  readonly appId: string;
  /** What every call goes through: the local transport, or the failover transport around it. */
  readonly transport: SdkTransport;
  /** Set when siblings are configured: listen to 'failover' / 'failback' / 'unavailable' here. */
  readonly failover: FailoverTransport | undefined;
  readonly state: StateClient;
  readonly pubsub: PubSubClient;
  readonly configuration: ConfigurationClient;
  readonly lock: LockClient;
  readonly sequencer: SequencerClient;
  readonly #invoke: InvokeClient;
  readonly #logger: SdkLogger;
  readonly #ctx: BlockContext;
  readonly #closing = new AbortController();
  readonly #serving = new Set<ServeHandle>();

  /** Prefer createClient(); this takes an already built transport (tests, custom transports). */
  constructor(appId: string, transport: SdkTransport, logger: SdkLogger = silentLogger, failover?: FailoverTransport) {
    this.appId = appId;
    this.transport = transport;
    this.failover = failover;
    this.#logger = logger.child({ component: 'hearth-sdk', appId });
    this.#ctx = { transport, closed: this.#closing.signal };
    this.state = new StateClient(this.#ctx);
    this.pubsub = new PubSubClient(this.#ctx, this.#logger);
    this.configuration = new ConfigurationClient(this.#ctx, this.#logger);
    this.lock = new LockClient(this.#ctx);
    this.sequencer = new SequencerClient(this.#ctx);
    this.#invoke = new InvokeClient(this.#ctx);
  }

  /** Calls `method` of app `appId` (on this host or any other); see InvokeOptions. */
  invoke(appId: string, method: string, data?: Value, options?: InvokeOptions): Promise<InvokeReply> {
    return this.#invoke.invoke(appId, method, data, options);
  }

  /**
   * Answers invocations of this app: `handlers[method]` (or `handlers['*']`) runs for each call;
   * what it returns is the reply, what it throws becomes the caller's HEARTH_ERR_APP_ERROR with
   * `details.appCode` = the error's `code` (or 'ERROR').
   */
  serve(handlers: Record<string, Handler>, options?: ServeOptions): ServeHandle {
    if (this.#closing.signal.aborted) throw new HearthClientError('HEARTH_ERR_AGENT_UNAVAILABLE', 'the client is closed', { sent: false });
    const handle = serve(this.#ctx, this.#logger, handlers, options);
    this.#serving.add(handle);
    void handle.closed.catch(() => undefined).finally(() => this.#serving.delete(handle));
    return handle;
  }

  /** Stops serving, ends subscriptions and watches, closes the transport. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closing.signal.aborted) this.#closing.abort();
    await Promise.allSettled([...this.#serving].map((h) => h.close()));
    await this.transport.close();
  }
}

/** A client for this app, configured from `options` and, for what they leave out, the environment. */
export function createClient(options: ClientOptions = {}): HearthClient {
  const env = options.env ?? process.env;
  const appId = options.appId ?? env.HEARTH_APP_ID ?? '';
  const token = options.token ?? env.HEARTH_TOKEN ?? '';
  const runDir = options.runDir ?? nonEmpty(env.HEARTH_RUN_DIR) ?? DEFAULT_RUN_DIR;
  if (appId === '') throw invalid('no app id: pass { appId } or set HEARTH_APP_ID');
  if (token === '') throw invalid('no token: pass { token } or set HEARTH_TOKEN');
  const logger = options.logger ?? silentLogger;
  const appDir = path.join(runDir, 'apps', appId);
  const kind = options.transport ?? 'wire';
  const local: SdkTransportFactory =
    kind === 'grpc'
      ? () => new GrpcTransport({ socketPath: path.join(appDir, 'grpc.sock'), token, logger })
      : () => new WireTransport({ endpoint: { path: path.join(appDir, 'wire.sock') }, token, logger });

  const siblings = options.siblings ?? siblingsFromEnv(env);
  if (siblings.length === 0) return new HearthClient(appId, local(), logger);

  // Failover hook (sdk/failover/): the local transport is wrapped; siblings are reached over the
  // wire protocol on their TLS port, presenting this app's id and token.
  const tls = options.siblingTls ?? siblingTlsFromEnv(env);
  const failover = createFailoverTransport({
    local,
    siblings,
    connectSibling: (endpoint) =>
      new WireTransport({
        name: `sibling:${endpoint.name}`,
        endpoint: { host: endpoint.host, port: endpoint.port, tls },
        token,
        caller: appId,
        logger,
      }),
    logger,
    ...(options.failover ? { timings: options.failover } : {}),
  });
  return new HearthClient(appId, failover, logger, failover);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function invalid(message: string): HearthClientError {
  return new HearthClientError('HEARTH_ERR_INVALID_ARGUMENT', message, { sent: false });
}
