// One app's share of an event-loop turn on the wire transport: however many connections it
// holds, its frames handled in one turn are bounded (each connection is bounded on its own too,
// FRAMES_PER_TURN in wire-session.ts). The rest wait, in order, for later turns — so a worker's
// turn, and therefore the wait of every other app's call, is bounded by what each app may do in
// it, not by how many connections and pipelined Requests one app brought.
export class TurnShare {
  readonly #perTurn: number;
  #used = 0;
  #resetScheduled = false;

  constructor(perTurn: number) {
    this.#perTurn = perTurn;
  }

  /** Takes one frame's place in this turn; false when the app's share of the turn is spent. */
  take(): boolean {
    if (this.#used >= this.#perTurn) return false;
    this.#used += 1;
    if (!this.#resetScheduled) {
      this.#resetScheduled = true;
      // Scheduled before any session defers its remaining frames (setImmediate runs in order),
      // so the share is whole again when they resume.
      setImmediate(() => {
        this.#used = 0;
        this.#resetScheduled = false;
      });
    }
    return true;
  }
}
