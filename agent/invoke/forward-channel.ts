// One way to hand an invocation to another process that may hold an instance of the target: a
// peer worker of this agent (Unix socket) or a sibling agent (TCP+TLS). The router only sees this
// interface; wire-forwarder.ts implements it over the wire client, so the routing logic and the
// transport can be tested and changed apart.
import type { InvokeResult, Metadata } from '../building-blocks/runtime-api.js';

/** What travels to the next hop: the checked call, with the caller the first agent verified. */
export interface ForwardRequest {
  readonly target: string;
  readonly method: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly metadata: Metadata;
  readonly httpVerb: string;
  readonly idempotent: boolean;
  /** The verified calling app. */
  readonly caller: string;
  /** Absolute (Date.now() ms); the hop receives what remains when the frame is written. */
  readonly deadline: number;
  readonly traceparent: string;
  readonly requestId: string;
  /** 0 for the first try; retries and hedges count up. */
  readonly attempt: number;
}

export interface ForwardChannel {
  /** For logs and metrics: `worker:1234`, `sibling:host-2`. */
  readonly name: string;
  /**
   * Resolves with the target's answer; rejects with a HearthError. A request that provably never
   * left this process (connect failed, connection not open) carries `details.notSent = true`, so
   * the governor may try it elsewhere even when the call is not idempotent.
   */
  forward(request: ForwardRequest, signal: AbortSignal): Promise<InvokeResult>;
  /** Releases the connection(s). Idempotent. */
  close(): Promise<void>;
}

/** The method a forwarded invocation is sent as (docs/wire-protocol.md). */
export const INVOKE_METHOD = 'hearth.runtime.v1.Invoke/InvokeService';
/** Header metadata naming the agent that forwarded a call (docs/wire-protocol.md, identity). */
export const FORWARDED_BY_KEY = 'hearth-forwarded-by';
