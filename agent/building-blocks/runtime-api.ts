// The one implementation behind every transport (gRPC, HTTP, later wire). Transports parse and
// authenticate, build a CallContext, call these methods, and render the result or the
// HearthError. Everything app-facing — validation, ACLs, key namespacing, CloudEvents — happens
// behind this interface, so the transports cannot drift apart.
import type { Logger } from 'pino';
import type { AppConfig } from '../config/load-config.js';
import type { ConcurrencyMode } from '../components/state-store.js';
import type { UnlockStatus } from '../components/lock-store.js';
import type { ConfigurationItems } from '../components/configuration-store.js';
import type { Transport } from '../observability/metrics.js';

export interface CallContext {
  /** The app the socket belongs to; already authenticated. */
  readonly app: AppConfig;
  readonly requestId: string;
  readonly transport: Transport;
  /** Child logger bound to app and request id. */
  readonly logger: Logger;
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
  subscribe(ctx: CallContext, params: SubscribeParams, deliver: (d: Delivery) => void): Promise<SubscriptionHandle>;
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
}

export interface RuntimeApi {
  readonly state: StateApi;
  readonly pubsub: PubSubApi;
  readonly configuration: ConfigurationApi;
  readonly lock: LockApi;
  readonly sequencer: SequencerApi;
  readonly metadata: MetadataApi;
}
