// Everything the bench starts (processes, temp dirs) registers its teardown here, so the normal
// path, a failed scenario and a signal to run.ts all release the same things, newest first.
export type Teardown = () => Promise<void>;

export class CleanupStack {
  readonly #entries = new Map<number, { name: string; teardown: Teardown }>();
  #nextId = 0;

  /** Registers a teardown; the returned function unregisters it (call it after a normal stop). */
  add(name: string, teardown: Teardown): () => void {
    const id = this.#nextId++;
    this.#entries.set(id, { name, teardown });
    return () => {
      this.#entries.delete(id);
    };
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Runs every teardown in reverse order; errors are reported, never thrown. Idempotent. */
  async runAll(report: (message: string) => void): Promise<void> {
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
