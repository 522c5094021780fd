import type { Component } from './component.js';

/** One agent (host) and the app ids it serves, as it announced itself. */
export interface AgentRegistration {
  /** Stable per host, e.g. the hostname; unique in the fleet. */
  readonly agentId: string;
  /** Where sibling agents reach it: `host:port` of its agent-to-agent listener. */
  readonly address: string;
  /** App ids with instances on this agent's host. */
  readonly appIds: readonly string[];
  /** Free-form labels (version, zone, …) other agents may rank by. */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface AgentRecord extends AgentRegistration {
  /** Epoch ms of the last heartbeat. */
  readonly heartbeatAt: number;
  /** Epoch ms after which the record is ignored unless renewed. */
  readonly expiresAt: number;
}

/**
 * Service discovery for agent-to-agent invocation: which live agents host which app ids.
 * register() announces this agent and keeps the announcement alive with heartbeats (every
 * ttlMs / 3) until deregister() or close(); a record whose heartbeats stop expires after ttlMs.
 */
export interface ServiceRegistry extends Component {
  /** Announces (or replaces) this agent's registration and starts heartbeating it. */
  register(registration: AgentRegistration): Promise<void>;
  /** Withdraws the agent at once (also stops its heartbeat); unknown ids are not an error. */
  deregister(agentId: string): Promise<void>;
  /** Live (unexpired) agents that host appId, most recent heartbeat first. */
  lookup(appId: string): Promise<AgentRecord[]>;
  /** Every live agent. */
  agents(): Promise<AgentRecord[]>;
}
