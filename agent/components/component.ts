// The lifecycle and context every component shares: the worker starts, drains and destroys every
// backend the same way, whatever its type.
import type { Logger } from 'pino';
import type { LimitsConfig } from '../config/config-schema.js';
import type { ResolvedComponentConfig } from '../config/load-config.js';

/** start() once before use; close() drains gracefully; destroy() releases at once. All idempotent. */
export interface Lifecycle {
  start(): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
}

export interface ComponentHealth {
  readonly healthy: boolean;
  readonly detail?: string;
}

export interface Component extends Lifecycle {
  /** Cheap, synchronous view for /readyz and metrics. */
  health(): ComponentHealth;
}

export interface ComponentContext {
  readonly config: ResolvedComponentConfig;
  /** Absolute state directory; embedded components keep their files under it. */
  readonly stateDir: string;
  /** Directory of the configuration file, for resolving relative paths in metadata. */
  readonly configDir: string;
  readonly limits: Readonly<LimitsConfig>;
  readonly logger: Logger;
}
