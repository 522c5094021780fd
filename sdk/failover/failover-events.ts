// What the failover transport tells the app: an event per switch, and a stats() snapshot of
// counters. Kept in one small file so the client can re-export the types without the machinery.
import type { TransportEvents } from '../transport.js';

export interface FailoverEvent {
  /** The transport name calls left ('wire:/…/wire.sock', 'sibling:host-2'), or 'none' after an outage. */
  readonly from: string;
  /** The transport name calls go to now. */
  readonly to: string;
  /** What triggered the switch: 'connection lost', 'unresponsive', 'draining without successor', 'local agent healthy', … */
  readonly reason: string;
  /** Epoch ms when calls started going to `to`. */
  readonly at: number;
  /** Ms from the first sign of trouble (failed call, closed connection, first missed ping) — or,
   *  for a failback, from the first healthy local ping — to the switch. */
  readonly detectionMs: number;
}

export interface UnavailableEvent {
  /** The transport name calls left. */
  readonly from: string;
  readonly reason: string;
  readonly at: number;
  /** Why each agent was not taken. */
  readonly rejected: readonly string[];
}

export interface FailoverTransportEvents extends TransportEvents {
  failover: (event: FailoverEvent) => void;
  failback: (event: FailoverEvent) => void;
  /** Neither the local agent nor any sibling answered; calls fail with HEARTH_ERR_AGENT_UNAVAILABLE until one does. */
  unavailable: (event: UnavailableEvent) => void;
}

export type FailoverState = 'local' | 'sibling' | 'switching' | 'unavailable' | 'closed';

export interface FailoverStats {
  readonly state: FailoverState;
  /** Name of the transport calls go to now; undefined when none. */
  readonly current: string | undefined;
  /** Switches away from the local agent, or from one sibling to another. */
  readonly failovers: number;
  /** Switches back to the local agent. */
  readonly failbacks: number;
  /** The local agent drained and its successor answered on the same socket: new connection, no switch. */
  readonly localReconnects: number;
  /** Calls sent again on another connection after theirs failed. */
  readonly replayed: number;
  /** Calls failed with HEARTH_ERR_CALL_INTERRUPTED (in flight, not safe to replay). */
  readonly interrupted: number;
  /** Calls failed with HEARTH_ERR_AGENT_UNAVAILABLE because no agent answered. */
  readonly unavailable: number;
  /** Streams ended so that they reopen on the agent calls moved to. */
  readonly streamsMoved: number;
  readonly lastFailover: FailoverEvent | undefined;
  readonly lastFailback: FailoverEvent | undefined;
}
