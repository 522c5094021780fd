// A single-consumer queue that turns pushed values into an async iterator: streams push messages
// as frames arrive, the app pulls with `for await`. Unbounded on purpose — the server bounds what
// it sends (max in-flight deliveries, one config change per event), so the SDK need not.
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #waiters: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void }> = [];
  #ended = false;
  #error: unknown = undefined;
  #failed = false;

  get ended(): boolean {
    return this.#ended;
  }

  push(item: T): void {
    if (this.#ended) return;
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve({ value: item, done: false });
    else this.#items.push(item);
  }

  /** No more items: the iterator ends after what is queued. */
  finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  /** The iterator throws `err` after what is queued. */
  fail(err: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#failed = true;
    this.#error = err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) return Promise.resolve({ value: this.#items.shift() as T, done: false });
    if (this.#ended) {
      if (this.#failed) return Promise.reject(this.#error instanceof Error ? this.#error : new Error(String(this.#error)));
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
