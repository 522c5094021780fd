// The public API of the Hearth TypeScript SDK (the package @hearth/sdk).
export { createClient, HearthClient, DEFAULT_RUN_DIR, type ClientOptions } from './client.js';
export { AGENT_UNAVAILABLE, HearthClientError, isHearthClientError, type ProtocolLogger as SdkLogger, WireConnection, type WireConnectOptions, type WireEndpoint, type WireTlsOptions } from '@hearth/protocol';
export type { Payload, Value } from './payload.js';
export type { CallOptions, GoawayEvent, SdkStream, SdkTransport, SdkTransportFactory } from './transport.js';
export type { RequestOptions } from './blocks/request-options.js';
export type { StateEntry, SaveOptions, SaveItem, DeleteOptions, TransactionOperation, Concurrency } from './blocks/state-client.js';
export type { Message, PublishOptions, SubscribeOptions, Subscription } from './blocks/pubsub-client.js';
export type { ConfigurationItem, ConfigurationChange, ConfigurationWatch, WatchOptions } from './blocks/configuration-client.js';
export type { UnlockStatus } from './blocks/lock-client.js';
export type { InvokeOptions, InvokeReply } from './blocks/invoke-client.js';
export { reply, type Handler, type InvocationRequest, type Reply, type ResultLike, type ServeHandle, type ServeOptions } from './blocks/serve.js';
export { WireTransport, type WireTransportOptions } from './wire/wire-transport.js';
export { GrpcTransport, type GrpcTransportOptions } from './grpc/grpc-transport.js';
export { createFailoverTransport, type FailoverTransport, type FailoverTimings, type FailoverTransportOptions } from './failover/failover-transport.js';
export { siblingConnector, type SiblingConnectorOptions } from './failover/sibling-connector.js';
export type { FailoverEvent, FailoverStats, UnavailableEvent } from './failover/failover-events.js';
export { siblingsFromEnv, siblingTlsFromEnv, type SiblingEndpointInput, type SiblingTls } from './failover/sibling-list.js';
