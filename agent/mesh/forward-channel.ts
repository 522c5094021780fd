// One way to hand an invocation to another process that may hold an instance of the target: a
// peer worker of this agent (Unix socket) or a sibling agent (TCP+TLS). The router only sees this
// interface; wire-channel.ts implements it over the protocol's WireConnection, so the routing
// logic and the transport can be tested and changed apart.
import type { ForwardedCall, InvokeResult } from '../building-blocks/runtime-api.js';

export interface ForwardChannel {
  /** For logs and metrics: `worker:1234`, `sibling:host-2`. */
  readonly name: string;
  /**
   * Resolves with the target's answer; rejects with a HearthError. A request that provably never
   * left this process (connect failed, connection not open) carries `details.notSent = true`, so
   * the governor may try it elsewhere even when the call is not idempotent. `attempt` is 0 for
   * the first try; retries and hedges count up.
   */
  forward(call: ForwardedCall, attempt: number, signal: AbortSignal): Promise<InvokeResult>;
  /**
   * Takes no new calls and releases the connection(s) once the calls in flight are answered, or
   * after `graceMs` (default 1 s) at the latest. Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

/** Header metadata naming the agent that forwarded a call (docs/wire-protocol.md, identity). */
export const FORWARDED_BY_KEY = 'hearth-forwarded-by';
