// Small helpers shared by the backend-agnostic conformance suites.
import { randomUUID } from 'node:crypto';

export interface StoreHandle<T> {
  readonly store: T;
  cleanup(): Promise<void>;
}

export type MakeStore<T> = () => Promise<StoreHandle<T>>;

/** Runs fn with a fresh store and always cleans it up, even when fn fails. */
export async function withStore<T, R>(makeStore: MakeStore<T>, fn: (store: T) => Promise<R>): Promise<R> {
  const handle = await makeStore();
  try {
    return await fn(handle.store);
  } finally {
    await handle.cleanup();
  }
}

/** A name no other test (or earlier run against a shared server) uses. */
export function uniq(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Sorted copy, for comparing collections whose order is not part of the contract. */
export function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}
