// How the governance layer reads an error code: may the call be tried again, and does the error
// say something about the health of the endpoint that produced it? Codes only (never messages or
// `instanceof`): errors may come from another build or across the wire.

const RETRYABLE: ReadonlySet<string> = new Set([
  'HEARTH_ERR_APP_UNAVAILABLE',
  'HEARTH_ERR_DRAINING',
  'HEARTH_ERR_AGENT_UNAVAILABLE',
  'HEARTH_ERR_BACKEND_UNAVAILABLE',
  'HEARTH_ERR_CALL_INTERRUPTED',
  // An instance (or a sibling's quota) turned the call away before doing any work.
  'HEARTH_ERR_RESOURCE_EXHAUSTED',
]);

const ENDPOINT_FAILURES: ReadonlySet<string> = new Set([
  'HEARTH_ERR_APP_UNAVAILABLE',
  'HEARTH_ERR_APP_ERROR',
  'HEARTH_ERR_BACKEND_UNAVAILABLE',
  'HEARTH_ERR_DRAINING',
  'HEARTH_ERR_AGENT_UNAVAILABLE',
  'HEARTH_ERR_CALL_INTERRUPTED',
  'HEARTH_ERR_INTERNAL',
  // An attempt cut off at the deadline: the endpoint did not answer in time, whoever set the budget.
  'HEARTH_ERR_TIMEOUT',
]);

/**
 * The failure is transient and says nothing about the request itself, so another attempt (on
 * another endpoint, after a backoff) may succeed. Whether it is *safe* to retry is a separate
 * question (idempotent, or the request never left) that the governor answers.
 */
export function isRetryable(code: string): boolean {
  return RETRYABLE.has(code);
}

/**
 * The endpoint (another worker, a sibling agent, a draining stream) simply had no instance of the
 * target to give the call to, and nothing ran (`details.notSent`): it is healthy, only the app's
 * instances moved (a stream reconnecting during an upgrade, a stale apps list). Try elsewhere,
 * but pass no verdict on the endpoint or the target.
 */
export function isNoInstance(code: string, notSent: boolean): boolean {
  return notSent && code === 'HEARTH_ERR_APP_UNAVAILABLE';
}

/**
 * The error counts against the endpoint's health (outlier ejection) and the target's (breaker).
 * Errors about the caller (PERMISSION_DENIED, INVALID_ARGUMENT, ...) or load shedding
 * (RESOURCE_EXHAUSTED) prove the endpoint alive and answering, so they do not; neither does an
 * endpoint that had no instance (isNoInstance).
 */
export function countsAsFailure(code: string, notSent = false): boolean {
  return ENDPOINT_FAILURES.has(code) && !isNoInstance(code, notSent);
}
