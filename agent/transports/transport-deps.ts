// What an app-facing server (gRPC, HTTP, wire) needs: one instance per app socket, so the
// socket a connection arrives on is the caller's identity.
import type { Logger } from 'pino';
import type { AppBudgets } from '../apps/app-budgets.js';
import type { QuotaGate } from '../apps/app-quotas.js';
import type { AppRegistry } from '../apps/app-registry.js';
import type { RuntimeApi } from '../building-blocks/runtime-api.js';
import type { LimitsConfig } from '../config/config-schema.js';
import type { AppConfig } from '../config/load-config.js';
import type { AgentMetrics } from '../observability/metrics.js';

export type { QuotaGate };

export interface TransportDeps {
  readonly app: AppConfig;
  readonly apps: AppRegistry;
  readonly api: RuntimeApi;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly limits: Readonly<LimitsConfig>;
  /** Absent: no quotas (in-process test harnesses). */
  readonly quotas?: QuotaGate | undefined;
  /** What each app holds in this worker (agent/apps/app-budgets.ts); absent: unbounded (tests). */
  readonly budgets?: AppBudgets | undefined;
}

/** Every app-facing server has this shape; the worker runtime starts and drains them. */
export interface AppServer {
  /** Binds (through the cluster primary when in a worker) and sets socket mode 0660. */
  start(): Promise<void>;
  /**
   * Graceful: stop accepting, let in-flight requests finish, end streams telling clients to
   * reconnect; after graceMs, force. Idempotent.
   */
  close(graceMs: number): Promise<void>;
  destroy(): void;
  /** Open connections right now. */
  connections(): number;
}
