// The shapes @grpc/proto-loader produces and accepts for hearth.runtime.v1 with LOADER_OPTIONS
// (camelCase, defaults filled, enums by name, int64 as string, oneof discriminators). Hand-written
// for the fields the handlers use; proto/ stays the contract.
export type StringMap = Record<string, string>;

export type ConcurrencyName = 'CONCURRENCY_UNSPECIFIED' | 'CONCURRENCY_FIRST_WRITE' | 'CONCURRENCY_LAST_WRITE';

/** Unset message fields arrive as null with `defaults: true`. */
export interface StateOptionsMsg {
  concurrency: ConcurrencyName;
}
export interface EtagMsg {
  value: string;
}

export interface GetStateRequestMsg {
  storeName: string;
  key: string;
  metadata: StringMap;
}
export interface GetBulkStateRequestMsg {
  storeName: string;
  keys: string[];
  metadata: StringMap;
}
export interface StateItemMsg {
  key: string;
  value: Buffer;
  etag: EtagMsg | null;
  metadata: StringMap;
  options: StateOptionsMsg | null;
  contentType: string;
}
export interface SaveStateRequestMsg {
  storeName: string;
  states: StateItemMsg[];
}
export interface DeleteStateRequestMsg {
  storeName: string;
  key: string;
  etag: EtagMsg | null;
  options: StateOptionsMsg | null;
  metadata: StringMap;
}
export interface TransactionalStateOperationMsg {
  operationType: string;
  request: StateItemMsg | null;
}
export interface ExecuteStateTransactionRequestMsg {
  storeName: string;
  operations: TransactionalStateOperationMsg[];
  metadata: StringMap;
}

export interface PublishRequestMsg {
  pubsubName: string;
  topic: string;
  data: Buffer;
  dataContentType: string;
  metadata: StringMap;
}
export interface SubscribeInitialMsg {
  pubsubName: string;
  topic: string;
  subscription: string;
  ackDeadlineMs: number;
  maxDeliveryAttempts: number;
  deadLetterTopic: string;
  maxInFlight: number;
  metadata: StringMap;
}
export interface SubscribeRequestMsg {
  request?: 'initial' | 'ack' | 'nack';
  initial?: SubscribeInitialMsg | null;
  ack?: { deliveryId: string } | null;
  nack?: { deliveryId: string; delayMs: number } | null;
}
export interface DeliveryMsg {
  deliveryId: string;
  messageId: string;
  topic: string;
  pubsubName: string;
  data: Buffer;
  dataContentType: string;
  attempt: number;
  metadata: StringMap;
}
export type SubscribeResponseMsg = { ready: { subscription: string } } | { delivery: DeliveryMsg };

export interface ConfigurationRequestMsg {
  storeName: string;
  keys: string[];
  metadata: StringMap;
}
export interface ConfigurationItemMsg {
  value: string;
  version: string;
  metadata: StringMap;
  deleted: boolean;
}

export interface LockRequestMsg {
  storeName: string;
  resourceId: string;
  lockOwner: string;
  /** Absent on UnlockRequest. */
  expiryInSeconds?: number;
}

export interface GetNextIdRequestMsg {
  storeName: string;
  key: string;
  metadata: StringMap;
}
