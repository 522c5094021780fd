// Everything the bench starts (processes, temp dirs) registers its teardown here, so the normal
// path, a failed scenario and a signal to run.ts all release the same things, newest first.
export type Teardown = () => Promise<void>;

export class CleanupStack {
  readonly #entries = new Map<number, { name: string; teardown: Teardown }>();
  #nextId = 0;
  #closed = false;

  /**
   * Registers a teardown; the returned function unregisters it (call it after a normal stop).
   * Once runAll() has begun (a signal arrived), whatever registers is torn down at once.
   */
  add(name: string, teardown: Teardown): () => void {
    if (this.#closed) {
      void teardown().catch(() => undefined);
      return () => undefined;
    }
    const id = this.#nextId++;
    this.#entries.set(id, { name, teardown });
    return () => {
      this.#entries.delete(id);
    };
  }

  get size(): number {
    return this.#entries.size;
  }

  /** True once runAll(…, final) has begun: nothing new should start. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs every teardown in reverse order; errors are reported, never thrown. Idempotent. With
   * `final` (a signal), the stack stays closed: later registrations are torn down at once.
   */
  async runAll(report: (message: string) => void, final = false): Promise<void> {
    if (final) this.#closed = true;
    const entries = [...this.#entries.entries()].reverse();
    this.#entries.clear();
    for (const [, { name, teardown }] of entries) {
      try {
        await teardown();
      } catch (err) {
        report(`cleanup of ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
