// How fast failover notices trouble and how cautiously it comes back. The defaults meet the
// "switch within one second" goal for a dead agent with room to spare on a loaded host, and keep a
// healthy-but-busy agent (a ping answered within 300 ms) from being declared hung.
export interface FailoverTimings {
  /** Heartbeat on the agent in use: pause between pings, a ping's timeout, misses in a row that fail it. */
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly heartbeatMisses: number;
  /** Bound on connecting to and pinging a sibling during a switch (the local agent gets heartbeatTimeoutMs). */
  readonly probeTimeoutMs: number;
  /** Failback hysteresis: the local agent answers this many pings in a row, over at least failbackAfterMs. */
  readonly failbackPings: number;
  readonly failbackAfterMs: number;
  /** While no agent answers, probe all of them this often. */
  readonly retryIntervalMs: number;
  /** A transport calls left is closed when its last call ends, or after this. */
  readonly retireGraceMs: number;
}

export const DEFAULT_FAILOVER_TIMINGS: FailoverTimings = {
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 300,
  heartbeatMisses: 2,
  probeTimeoutMs: 500,
  failbackPings: 5,
  failbackAfterMs: 1000,
  retryIntervalMs: 500,
  retireGraceMs: 30_000,
};
