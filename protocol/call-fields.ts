// What every call carries whatever its transport — the caller's app id, a request id, W3C trace
// context and a time budget — and the one rule for reading each. The agent applies these to what
// arrives on gRPC metadata, HTTP headers and wire headers alike; clients to what they send.

/** An app id: a DNS label (lowercase letters, digits, dashes; at most 63 characters). */
export const APP_ID_SOURCE = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
export const APP_ID_PATTERN = new RegExp(APP_ID_SOURCE);

/** Bounded and printable, so a client cannot put anything it likes into logs. */
const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;
/** W3C trace context: version-traceid-parentid-flags, lowercase hex. */
const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Response header metadata on a forwarded Invoke that another worker of the answering agent
 * delivered (value `worker`): the caller's agent prefers another of its connections for that
 * target, one that may land on the worker holding its instance. Absent when the worker that read
 * the Request answered it itself. A hint only: an agent that never sets it is simply not steered.
 */
export const SERVED_BY_METADATA = 'hearth-served-by';

/** setTimeout's longest wait (2^31-1 ms, about 24.8 days): a longer budget is clamped to it (beyond it a timer fires at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function isAppId(value: string): boolean {
  return APP_ID_PATTERN.test(value);
}

/** The caller's request id when it is sane (printable ASCII, 1–128 characters), else undefined. */
export function validRequestId(given: unknown): string | undefined {
  return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : undefined;
}

/** A traceparent trimmed and lowercased when it is well formed, else undefined. */
export function validTraceparent(given: unknown): string | undefined {
  if (typeof given !== 'string') return undefined;
  const value = given.trim().toLowerCase();
  return TRACEPARENT_PATTERN.test(value) ? value : undefined;
}

/** A wait of `ms` as setTimeout can honour it. */
export function timerMs(ms: number): number {
  return Math.min(ms, MAX_TIMER_MS);
}
