// Long-lived streams (subscriptions) of one server, so close() can end them with a coded status
// after releasing what they hold, instead of leaving grpc-js to cut them at the deadline.
import { HearthError } from '../../errors/hearth-error.js';

export interface ActiveStream {
  /** Releases the stream's resources, then ends it with UNAVAILABLE + HEARTH_ERR_SUBSCRIPTION_CLOSED. */
  shutdown(): Promise<void>;
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

  async shutdownAll(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([...this.#streams].map((s) => s.shutdown()));
  }
}
