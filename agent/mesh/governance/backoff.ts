// Retry backoff: exponential with full jitter (AWS Architecture Blog, "Exponential Backoff and
// Jitter"): the delay is uniform in [0, base × 2^(retry-1)], so retries from many callers spread
// out instead of arriving in synchronized waves.

/** Never wait longer than this between two attempts, whatever the base and attempt number. */
export const MAX_BACKOFF_MS = 10_000;

/**
 * Delay before retry number `retry` (1 = the first retry), capped by `remainingMs` (the call's
 * remaining budget) so a backoff never outlives the deadline. The caller decides whether a retry
 * is still worth sending when the delay eats the whole budget.
 */
export function backoffDelay(retry: number, baseMs: number, remainingMs: number, random: () => number = Math.random): number {
  if (baseMs <= 0 || remainingMs <= 0) return 0;
  const exp = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, Math.min(30, retry - 1)));
  return Math.min(Math.floor(random() * exp), remainingMs);
}
