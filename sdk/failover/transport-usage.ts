// Which connections calls still use. When calls move to another agent, the connection they left
// is not cut: calls and streams still open on it finish there (a draining generation completes
// what it accepted), and it is closed when the last one ends — or after a grace period, so a
// hung agent never holds a connection forever.
import type { SdkTransport } from '../transport.js';
import { closeQuietly } from './agent-probe.js';

export class TransportUsage {
  readonly #graceMs: number;
  readonly #users = new Map<SdkTransport, number>();
  readonly #retiring = new Map<SdkTransport, NodeJS.Timeout>();

  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  /** A call or stream starts on `transport`. */
  begin(transport: SdkTransport): void {
    this.#users.set(transport, (this.#users.get(transport) ?? 0) + 1);
  }

  /** It ended; a retired transport with no user left is closed. */
  end(transport: SdkTransport): void {
    const left = (this.#users.get(transport) ?? 1) - 1;
    if (left > 0) return void this.#users.set(transport, left);
    this.#users.delete(transport);
    if (this.#retiring.has(transport)) this.#close(transport);
  }

  /** No new calls go to `transport`: close it once unused. */
  retire(transport: SdkTransport): void {
    if ((this.#users.get(transport) ?? 0) === 0) return closeQuietly(transport);
    const timer = setTimeout(() => this.#close(transport), this.#graceMs);
    timer.unref();
    this.#retiring.set(transport, timer);
  }

  /** Closes every retired transport now. */
  async closeAll(): Promise<void> {
    const closing = [...this.#retiring.keys()].map((t) => t.close().catch(() => undefined));
    for (const timer of this.#retiring.values()) clearTimeout(timer);
    this.#retiring.clear();
    await Promise.all(closing);
  }

  #close(transport: SdkTransport): void {
    clearTimeout(this.#retiring.get(transport));
    this.#retiring.delete(transport);
    closeQuietly(transport);
  }
}
