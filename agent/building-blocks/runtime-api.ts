// The one implementation behind every transport (gRPC, HTTP, wire). Transports parse and
// authenticate, build a CallContext, call these methods, and render the result or the
// HearthError. Everything app-facing — validation, ACLs, key namespacing, CloudEvents — happens
// behind this interface, so the transports cannot drift apart.
import type { Logger } from 'pino';
import type { AppConfig } from '../config/load-config.js';
import type { ConcurrencyMode } from '../components/state-store.js';
import type { UnlockStatus } from '../components/lock-store.js';
import type { ConfigurationItems } from '../components/configuration-store.js';
import type { DeliveryCredit } from '../components/pubsub-broker.js';
import type { InvokePolicy } from '../config/config-schema.js';
import type { Transport } from '../observability/metrics.js';

export interface CallContext {
  /** The app the socket belongs to; already authenticated. */
  readonly app: AppConfig;
  readonly requestId: string;
  readonly transport: Transport;
  /** Child logger bound to app and request id. */
  readonly logger: Logger;
  /** Absolute deadline (Date.now() ms) from the caller's budget; absent = none. */
  readonly deadline?: number | undefined;
  /** W3C trace context the caller sent. */
  readonly traceparent?: string | undefined;
  /** Aborted when the caller cancels or goes away (invoke stops waiting and cancels downstream). */
  readonly signal?: AbortSignal | undefined;
  /** The same news as `signal`, without making an AbortController (see Cancellation). */
  readonly cancellation?: Cancellation | undefined;
}

/**
 * A call's cancellation as plain callbacks: what the invoke path listens with, so a call nobody
 * cancels makes no AbortController and no EventTarget listener (each was several per call).
 */
export interface Cancellation {
  readonly aborted: boolean;
  /** `listener` runs once when the call is aborted (at once if it was); returns the unsubscribe. */
  onAbort(listener: (reason: Error) => void): () => void;
}

export type Metadata = Readonly<Record<string, string>>;

// ---- state ----
export interface StateGetResult {
  readonly found: boolean;
  readonly value: Buffer;
  readonly etag: string;
  readonly contentType: string;
}

export interface BulkStateResult extends StateGetResult {
  readonly key: string;
  /** Per-key failure (the whole call still succeeds). */
  readonly error: string;
}

export interface SaveItem {
  readonly key: string;
  readonly value: Buffer;
  readonly etag?: string | undefined;
  readonly concurrency?: ConcurrencyMode | undefined;
  /** `ttlInSeconds` is honoured. */
  readonly metadata?: Metadata | undefined;
  readonly contentType?: string | undefined;
}

export interface DeleteItem {
  readonly key: string;
  readonly etag?: string | undefined;
  readonly concurrency?: ConcurrencyMode | undefined;
}

export type TransactionOp = ({ readonly type: 'upsert' } & SaveItem) | ({ readonly type: 'delete' } & DeleteItem);

export interface StateApi {
  get(ctx: CallContext, store: string, key: string): Promise<StateGetResult>;
  bulkGet(ctx: CallContext, store: string, keys: readonly string[]): Promise<BulkStateResult[]>;
  /** Returns new ETags in item order. */
  save(ctx: CallContext, store: string, items: readonly SaveItem[]): Promise<string[]>;
  delete(ctx: CallContext, store: string, item: DeleteItem): Promise<boolean>;
  transact(ctx: CallContext, store: string, ops: readonly TransactionOp[]): Promise<string[]>;
}

// ---- pubsub ----
export interface SubscribeParams {
  readonly pubsubName: string;
  readonly topic: string;
  /** Defaults to the topic. */
  readonly subscription?: string | undefined;
  readonly ackDeadlineMs?: number | undefined;
  readonly maxDeliveryAttempts?: number | undefined;
  readonly deadLetterTopic?: string | undefined;
  readonly maxInFlight?: number | undefined;
  /** A pull subscription that lives as long as a streamed one (else it expires sooner when unused). */
  readonly durable?: boolean | undefined;
}

export interface Delivery {
  readonly deliveryId: string;
  readonly messageId: string;
  readonly topic: string;
  readonly pubsubName: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly attempt: number;
  readonly metadata: Metadata;
}

export interface SubscriptionHandle {
  /** The resolved subscription (consumer group) name within the app. */
  readonly subscription: string;
  /** The transport has room again for deliveries it asked the broker to hold back (DeliveryCredit). */
  resume(): void;
  ack(deliveryId: string): Promise<void>;
  nack(deliveryId: string, delayMs: number): Promise<void>;
  /** Unacked deliveries go back for redelivery. Idempotent. */
  close(): Promise<void>;
}

export interface PublishParams {
  readonly pubsubName: string;
  readonly topic: string;
  readonly data: Buffer;
  readonly contentType?: string | undefined;
  /** `rawPayload: "true"` skips the CloudEvents envelope; `traceparent` is carried. */
  readonly metadata?: Metadata | undefined;
}

export interface PubSubApi {
  /** Returns the message id. */
  publish(ctx: CallContext, params: PublishParams): Promise<string>;
  /**
   * Moves delivery `d` of subscription `params` to its dead-letter topic now (the app dropped it),
   * as the broker does after maxDeliveryAttempts; false when the subscription has none. The caller acks it.
   */
  deadLetter(ctx: CallContext, params: SubscribeParams, d: Delivery): Promise<boolean>;
  /** `credit` lets the transport hold deliveries back while its socket is full (byte budgets). */
  subscribe(ctx: CallContext, params: SubscribeParams, deliver: (d: Delivery) => void, credit?: DeliveryCredit): Promise<SubscriptionHandle>;
  /** Pull-style for HTTP-only apps. */
  pull(ctx: CallContext, params: SubscribeParams, max: number, waitMs: number): Promise<Delivery[]>;
  ack(ctx: CallContext, pubsubName: string, subscription: string, deliveryId: string): Promise<void>;
  nack(ctx: CallContext, pubsubName: string, subscription: string, deliveryId: string, delayMs: number): Promise<void>;
}

// ---- configuration ----
export interface ConfigurationApi {
  get(ctx: CallContext, store: string, keys: readonly string[]): Promise<ConfigurationItems>;
  /** Calls onChange with the initial items first, then with each change. Returns unsubscribe. */
  subscribe(ctx: CallContext, store: string, keys: readonly string[], onChange: (items: ConfigurationItems) => void): Promise<() => void>;
}

// ---- lock & sequencer ----
export interface LockApi {
  tryLock(ctx: CallContext, store: string, resourceId: string, owner: string, expirySeconds: number): Promise<boolean>;
  unlock(ctx: CallContext, store: string, resourceId: string, owner: string): Promise<UnlockStatus>;
  keepAlive(ctx: CallContext, store: string, resourceId: string, owner: string, expirySeconds: number): Promise<boolean>;
}

export interface SequencerApi {
  next(ctx: CallContext, store: string, key: string): Promise<bigint>;
}

// ---- metadata ----
export interface ComponentInfo {
  readonly name: string;
  readonly type: string;
  readonly version: string;
  readonly capabilities: readonly string[];
}

export interface AgentMetadata {
  readonly appId: string;
  readonly runtimeVersion: string;
  readonly generation: number;
  readonly components: readonly ComponentInfo[];
  readonly allowedTopics: readonly string[];
  readonly allowedApps: readonly string[];
}

export interface MetadataApi {
  get(ctx: CallContext): AgentMetadata;
  /** The app's own attributes (Dapr's extended metadata, set with `PUT /v1.0/metadata/{key}`). */
  attributes(ctx: CallContext): Promise<Record<string, string>>;
  /** Sets one attribute of the calling app; an empty value removes it. */
  setAttribute(ctx: CallContext, key: string, value: string): Promise<void>;
}

// ---- invoke ----
export interface InvokeParams {
  readonly appId: string;
  readonly method: string;
  readonly data: Buffer;
  readonly contentType?: string | undefined;
  /** Passed to the target; `hearth-*` keys are reserved. */
  readonly metadata?: Metadata | undefined;
  /** The caller says the call may run more than once (retries, hedging). */
  readonly idempotent?: boolean | undefined;
  readonly httpVerb?: string | undefined;
}

export interface InvokeResult {
  readonly data: Buffer;
  readonly contentType: string;
  readonly metadata: Metadata;
  /** Another worker of this agent delivered it (the router's `worker` tier): the caller's hop hint. */
  readonly viaPeerWorker?: boolean;
}

/** One invocation pushed down an app's callback stream. */
export interface CallbackInvocation {
  readonly id: string;
  readonly method: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly metadata: Metadata;
  readonly callerAppId: string;
  /** Remaining budget in ms when pushed; 0 = none. */
  readonly deadlineMs: number;
  readonly traceparent: string;
  readonly httpVerb: string;
}

/** The app's answer to one CallbackInvocation. */
export type CallbackOutcome =
  | { readonly ok: true; readonly result: InvokeResult }
  | {
      readonly ok: false;
      readonly code: string;
      readonly message: string;
      /**
       * The app was not reached, or did not answer (an app channel: its server refused the
       * connection, hung up, timed out): HEARTH_ERR_APP_UNAVAILABLE or HEARTH_ERR_TIMEOUT instead
       * of HEARTH_ERR_APP_ERROR; `notSent` when the request provably never reached it.
       */
      readonly unreached?: { readonly code: 'HEARTH_ERR_APP_UNAVAILABLE' | 'HEARTH_ERR_TIMEOUT' | 'HEARTH_ERR_INVALID_ARGUMENT'; readonly notSent: boolean };
    };

/** A transport's end of an open callback stream (gRPC AppCallback.Connect or its wire twin). */
export interface CallbackSink {
  /** Writes one invocation to the app. */
  push(invocation: CallbackInvocation): void;
  /**
   * The invocation `id` was settled without the app's answer (timed out, cancelled, the call
   * went elsewhere): stop working on it. A stream has no way to say so and leaves it out.
   */
  cancel?(id: string): void;
}

/** What registering a callback stream returns to the transport that holds it. */
export interface CallbackRegistration {
  readonly instanceId: string;
  /** The app answered invocation `id`. Unknown or late ids are ignored (logged). */
  complete(id: string, outcome: CallbackOutcome): void;
  /** The stream ended: its pending invocations fail with HEARTH_ERR_APP_UNAVAILABLE. Idempotent. */
  close(): void;
  /**
   * The agent generation drains: the instance takes no new invocation from now on, and this
   * resolves once the ones already pushed are settled (answered, timed out, cancelled) or after
   * graceMs, whichever comes first; then the instance is closed (what is still pending fails
   * with HEARTH_ERR_APP_UNAVAILABLE). Results keep arriving through complete() until then.
   */
  drain(graceMs: number): Promise<void>;
}

export interface CallbackOptions {
  readonly methods?: readonly string[] | undefined;
  /** 0 or absent = the default. */
  readonly maxConcurrency?: number | undefined;
}

/** Where a call came from, read only when used: a CallContext, or the wire server's call itself. */
export interface CallOrigin {
  readonly requestId: string;
  /** Absolute deadline (Date.now() ms); absent = none. */
  readonly deadline?: number | undefined;
  readonly traceparent?: string | undefined;
  /** A getter on a wire call: made on first use. */
  readonly logger: Logger;
  /** Aborted when the caller cancels or goes away; a getter on a wire call. */
  readonly signal?: AbortSignal | undefined;
  /** The same as plain callbacks (the router and the governance listen with this). */
  readonly cancellation?: Cancellation | undefined;
}

/**
 * How far a call may travel. `any`: an app's own call — this worker, other workers, then sibling
 * agents. `host`: forwarded by a sibling agent — never to another agent. `worker`: forwarded by
 * another worker — this worker only. (mesh/forward-policy.ts says which hops each allows.)
 */
export type InvokeScope = 'any' | 'host' | 'worker';

/**
 * An invocation once the invoke block has checked it: built in one place (invoke-api.ts) and
 * carried unchanged by the router, the governance, a callback stream and the channel that writes
 * it to the next hop, which encodes it as the wire protocol's InvokeRequest.
 */
export interface ForwardedCall {
  readonly target: string;
  readonly method: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly metadata: Metadata;
  /** Uppercased; '' when the caller gave none. */
  readonly httpVerb: string;
  /** The verified calling app. */
  readonly caller: string;
  /** May run more than once: retries, hedges and failover replays are allowed. */
  readonly idempotent: boolean;
  /** Absolute (Date.now() ms); the next hop receives what remains when the frame is written. */
  readonly deadline: number;
  /** '' when the caller sent none. */
  readonly traceparent: string;
  readonly policy: Readonly<InvokePolicy>;
  readonly scope: InvokeScope;
  /** The caller's request id, logger and cancellation (not copied: see CallOrigin). */
  readonly origin: CallOrigin;
}

/** Where a checked invocation goes (the mesh, or this worker's instances only). */
export interface InvokeRouter {
  route(call: ForwardedCall): Promise<InvokeResult>;
  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>;
}

/** Where the callback streams of this worker are kept (app-channel/callback-registry.ts). */
export interface CallbackHost {
  register(appId: string, sink: CallbackSink, options: CallbackOptions): CallbackRegistration;
}

/** Who forwarded an invocation to this worker, as the connection it came on established. */
export interface ForwardedBy {
  readonly scope: 'host' | 'worker';
  /** The calling app, verified by the agent the call came through. */
  readonly callerAppId: string;
}

export interface InvokeApi {
  /** ACLs (caller's allow.apps, target's allow.callers), deadline, then local or remote delivery. */
  invoke(ctx: CallContext, params: InvokeParams): Promise<InvokeResult>;
  /** An app opened a callback stream on this worker. */
  registerCallback(ctx: CallContext, sink: CallbackSink, options: CallbackOptions): CallbackRegistration;
  /** Delivers to an instance of the target on this host only (callback streams of this or a peer worker). */
  deliverForwarded(by: ForwardedBy, origin: CallOrigin, params: InvokeParams): Promise<InvokeResult>;
}

export interface RuntimeApi {
  readonly state: StateApi;
  readonly pubsub: PubSubApi;
  readonly configuration: ConfigurationApi;
  readonly lock: LockApi;
  readonly sequencer: SequencerApi;
  readonly metadata: MetadataApi;
  readonly invoke: InvokeApi;
}
