// What the load loops drive: a set of numbered connections to one target, one request kind.
export type Done = (error: Error | null) => void;

export interface BenchClient {
  /** Number of connections opened; requests name one by index (round-robin is the caller's). */
  readonly connections: number;
  /** Sends one request on `connection`; `done` is called exactly once. Never waits for others. */
  send(connection: number, done: Done): void;
  /** Closes every connection; idempotent. */
  close(): Promise<void>;
}

/** Runs `fn(0..count-1)` with at most `batch` in flight: bounds connect bursts (listen backlog). */
export async function inBatches(count: number, batch: number, fn: (index: number) => Promise<void>): Promise<void> {
  for (let start = 0; start < count; start += batch) {
    const indexes = Array.from({ length: Math.min(batch, count - start) }, (_, i) => start + i);
    await Promise.all(indexes.map(fn));
  }
}

/** A `done` that ignores any call after the first (error paths may fire twice). */
export function once(done: Done): Done {
  let called = false;
  return (error) => {
    if (called) return;
    called = true;
    done(error);
  };
}

export function errorOf(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
