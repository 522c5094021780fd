// Waiting, for tests and the bench alike: `waitFor` polls a check until it yields a value or its
// bound passes; `sleep` is a plain pause (for pacing and quiet periods, never to wait for a fact).
import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 30 s); Infinity leaves the bound to the test runner. */
  readonly timeoutMs?: number;
  /** Pause between checks (default 100 ms). */
  readonly everyMs?: number;
  /**
   * A check that throws is tried again and its last error named at the deadline (default), or,
   * with false, ends the wait with that error at once (for checks whose errors are failures).
   */
  readonly retryErrors?: boolean;
}

/** Not there yet: `undefined` or `false`. Anything else is the value the wait resolves with. */
export type Check<T> = () => T | undefined | false | Promise<T | undefined | false>;

/** Polls `check` until it returns something other than undefined or false, and resolves with that. */
export async function waitFor<T>(what: string, check: Check<T>, options: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 30_000, everyMs = 100, retryErrors = true } = options;
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (!retryErrors) throw err;
      last = err;
    }
    if (Date.now() > until) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await delay(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return delay(ms);
}
