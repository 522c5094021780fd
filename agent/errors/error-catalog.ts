// The one catalog of app-facing error codes. Clients match on `code`, never on message text or
// `instanceof`: during an upgrade two builds are loaded at once. A test keeps this table,
// docs/errors.md and the transport mappings in sync.
import { status as GrpcStatus } from '@grpc/grpc-js';

export interface ErrorSpec {
  readonly message: string;
  readonly http: number;
  readonly grpc: GrpcStatus;
}

export const ERROR_CATALOG = {
  HEARTH_ERR_UNAUTHENTICATED: { message: 'missing or invalid app token', http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  HEARTH_ERR_PERMISSION_DENIED: { message: 'the app is not allowed to use this resource', http: 403, grpc: GrpcStatus.PERMISSION_DENIED },
  HEARTH_ERR_UNKNOWN_APP: { message: 'no such app is declared on this agent', http: 404, grpc: GrpcStatus.NOT_FOUND },
  HEARTH_ERR_STORE_NOT_FOUND: { message: 'no such component is configured', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  HEARTH_ERR_TOPIC_NOT_ALLOWED: { message: 'the app may not use this topic', http: 403, grpc: GrpcStatus.PERMISSION_DENIED },
  HEARTH_ERR_INVALID_ARGUMENT: { message: 'the request is invalid', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  HEARTH_ERR_MALFORMED_REQUEST: { message: 'the request body could not be parsed', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  HEARTH_ERR_INVALID_KEY: { message: 'the key is empty, too long or contains control characters', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  HEARTH_ERR_BODY_TOO_LARGE: { message: 'the request body exceeds the configured limit', http: 413, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  HEARTH_ERR_NOT_FOUND: { message: 'no such route or method', http: 404, grpc: GrpcStatus.UNIMPLEMENTED },
  HEARTH_ERR_ETAG_MISMATCH: { message: 'the ETag does not match the stored item', http: 409, grpc: GrpcStatus.ABORTED },
  HEARTH_ERR_ETAG_INVALID: { message: 'the ETag is malformed', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  HEARTH_ERR_TRANSACTION_FAILED: { message: 'the transaction was rolled back', http: 409, grpc: GrpcStatus.ABORTED },
  HEARTH_ERR_LOCK_NOT_HELD: { message: 'the lock does not exist or has expired', http: 409, grpc: GrpcStatus.FAILED_PRECONDITION },
  HEARTH_ERR_LOCK_OWNED_BY_OTHER: { message: 'the lock belongs to another owner', http: 409, grpc: GrpcStatus.FAILED_PRECONDITION },
  HEARTH_ERR_UNKNOWN_DELIVERY: { message: 'no such pending delivery for this subscription', http: 404, grpc: GrpcStatus.NOT_FOUND },
  HEARTH_ERR_SUBSCRIPTION_CLOSED: { message: 'the subscription stream ended; resubscribe', http: 410, grpc: GrpcStatus.UNAVAILABLE },
  HEARTH_ERR_RESOURCE_EXHAUSTED: { message: 'a quota or limit was exceeded', http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  HEARTH_ERR_BACKEND_UNAVAILABLE: { message: 'the backing component is unavailable', http: 503, grpc: GrpcStatus.UNAVAILABLE },
  HEARTH_ERR_TIMEOUT: { message: 'the operation did not complete within its deadline', http: 504, grpc: GrpcStatus.DEADLINE_EXCEEDED },
  HEARTH_ERR_DRAINING: { message: 'this agent generation is draining; retry', http: 503, grpc: GrpcStatus.UNAVAILABLE },
  HEARTH_ERR_CANCELLED: { message: 'the caller cancelled the call', http: 499, grpc: GrpcStatus.CANCELLED },
  HEARTH_ERR_APP_UNAVAILABLE: { message: 'no instance of the target app is reachable', http: 503, grpc: GrpcStatus.UNAVAILABLE },
  HEARTH_ERR_APP_ERROR: { message: 'the target app failed the invocation', http: 500, grpc: GrpcStatus.UNKNOWN },
  HEARTH_ERR_CIRCUIT_OPEN: { message: 'the circuit breaker for the target is open', http: 503, grpc: GrpcStatus.UNAVAILABLE },
  HEARTH_ERR_MALFORMED_FRAME: { message: 'the wire-protocol frame is malformed', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  HEARTH_ERR_AGENT_UNAVAILABLE: { message: 'neither the local agent nor any sibling is reachable', http: 503, grpc: GrpcStatus.UNAVAILABLE },
  HEARTH_ERR_CALL_INTERRUPTED: { message: 'the agent failed during the call, which was not safe to replay', http: 503, grpc: GrpcStatus.UNAVAILABLE },
  HEARTH_ERR_INTERNAL: { message: 'internal error', http: 500, grpc: GrpcStatus.INTERNAL },
  HEARTH_ERR_CONFIG_INVALID: { message: 'the configuration is invalid', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOG, code);
}
