// The heartbeat on the agent calls currently go to. A dead agent is noticed by the transport at
// once (connection closed); this catches the rest: an agent that is alive but does not answer
// (hung event loop, stopped process) after `misses` pings in a row went unanswered, and an agent
// that says it is draining (Pong DRAINING). One verdict per monitor; then it stops.
import { AGENT_UNAVAILABLE, isHearthClientError } from '@hearth/protocol';
import type { SdkTransport } from '../transport.js';
import { pingWithin } from './agent-probe.js';

export interface HeartbeatOptions {
  /** Pause between the end of one ping and the next. */
  readonly intervalMs: number;
  /** A ping not answered within this is a miss. */
  readonly timeoutMs: number;
  /** Misses in a row that make the agent unresponsive. */
  readonly misses: number;
}

export type HealthVerdict =
  | { readonly kind: 'unreachable' | 'unresponsive'; readonly since: number; readonly cause: unknown }
  | { readonly kind: 'draining'; readonly since: number };

export class HealthMonitor {
  readonly #transport: SdkTransport;
  readonly #options: HeartbeatOptions;
  readonly #onVerdict: (verdict: HealthVerdict) => void;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  /** Last round trip, for stats. */
  lastRttMs: number | undefined;

  constructor(transport: SdkTransport, options: HeartbeatOptions, onVerdict: (verdict: HealthVerdict) => void) {
    this.#transport = transport;
    this.#options = options;
    this.#onVerdict = onVerdict;
  }

  start(): void {
    if (this.#transport.ping === undefined) return;
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#beat(0, undefined), this.#options.intervalMs);
    // The heartbeat alone must never keep an app's process alive.
    this.#timer.unref();
  }

  async #beat(missed: number, firstMissAt: number | undefined): Promise<void> {
    if (this.#stopped) return;
    const sentAt = Date.now();
    try {
      const pong = await pingWithin(this.#transport, this.#options.timeoutMs);
      if (this.#stopped) return;
      this.lastRttMs = pong.rttMs;
      if (pong.draining) return this.#verdict({ kind: 'draining', since: sentAt });
      this.#schedule();
    } catch (err) {
      if (this.#stopped) return;
      const since = firstMissAt ?? sentAt;
      // The connection itself is gone (refused, reset, closed): no point counting misses.
      // A ping that timed out (HEARTH_ERR_TIMEOUT) is a miss.
      if (isHearthClientError(err) && err.code === AGENT_UNAVAILABLE) {
        return this.#verdict({ kind: 'unreachable', since, cause: err });
      }
      if (missed + 1 >= this.#options.misses) return this.#verdict({ kind: 'unresponsive', since, cause: err });
      // Ping again at once: a second miss should not wait a whole interval more.
      void this.#beat(missed + 1, since);
    }
  }

  #verdict(verdict: HealthVerdict): void {
    this.stop();
    this.#onVerdict(verdict);
  }
}
