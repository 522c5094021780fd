// Long-lived streams (subscriptions, callback streams) of one server, so close() can end them with
// a coded status after releasing or finishing what they hold, instead of leaving grpc-js to cut
// them at the deadline.
import { HearthError } from '../../errors/hearth-error.js';

export interface ActiveStream {
  /**
   * Ends the stream because the server closes, with its method's code: subscriptions release
   * their deliveries and end with UNAVAILABLE + HEARTH_ERR_SUBSCRIPTION_CLOSED at once; a
   * callback stream tells the app it drains, waits up to graceMs for the answers it is owed, then
   * ends with UNAVAILABLE + HEARTH_ERR_DRAINING. Resolves once the stream has ended.
   */
  shutdown(graceMs: number): Promise<void>;
}

export function subscriptionClosed(): HearthError {
  return new HearthError('HEARTH_ERR_SUBSCRIPTION_CLOSED', 'this agent generation is closing the stream; resubscribe');
}

export class StreamRegistry {
  readonly #streams = new Set<ActiveStream>();
  #closing = false;

  get size(): number {
    return this.#streams.size;
  }

  /** False once closing: the caller ends the new stream at once so its client resubscribes elsewhere. */
  add(stream: ActiveStream): boolean {
    if (this.#closing) return false;
    this.#streams.add(stream);
    return true;
  }

  delete(stream: ActiveStream): void {
    this.#streams.delete(stream);
  }

  /** Ends every stream; no new one is added. graceMs bounds what a stream may wait for (0 = nothing). */
  async shutdownAll(graceMs = 0): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([...this.#streams].map((s) => s.shutdown(graceMs)));
  }
}
