// The ops-agent's error catalog: what the CLI and the management API report. The worker's
// app-facing codes live in agent/errors (which the ops-agent may not import); codes that mean the
// same thing in both (HEARTH_ERR_TIMEOUT, …) are spelled the same. docs/errors.md lists both
// tables and a test keeps them in sync.

export interface OpsErrorSpec {
  readonly message: string;
  readonly http: number;
  /** Exit status of a CLI command failing with this code. */
  readonly exit: number;
}

export const OPS_ERROR_CATALOG = {
  HEARTH_ERR_USAGE: { message: 'invalid command line', http: 400, exit: 2 },
  HEARTH_ERR_CONFIG_INVALID: { message: 'the configuration is invalid', http: 400, exit: 1 },
  HEARTH_ERR_RUN_DIR_IN_USE: { message: 'another Hearth is running on this run directory', http: 409, exit: 1 },
  HEARTH_ERR_RUN_DIR_INVALID: { message: 'the run directory cannot be prepared', http: 500, exit: 1 },
  HEARTH_ERR_WORKER_EXITED: { message: 'a worker exited before it was ready', http: 500, exit: 1 },
  HEARTH_ERR_WORKER_START_FAILED: { message: 'a worker failed to start its components or listeners', http: 500, exit: 1 },
  HEARTH_ERR_TIMEOUT: { message: 'the operation did not complete within its deadline', http: 504, exit: 1 },
  HEARTH_ERR_DRAINING: { message: 'the agent is shutting down', http: 503, exit: 1 },
  HEARTH_ERR_INTERNAL: { message: 'internal error', http: 500, exit: 1 },
} as const satisfies Record<string, OpsErrorSpec>;

export type OpsErrorCode = keyof typeof OPS_ERROR_CATALOG;

export class OpsError extends Error {
  readonly code: OpsErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: OpsErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? OPS_ERROR_CATALOG[code].message);
    this.name = 'OpsError';
    this.code = code;
    this.details = details;
  }

  get exitCode(): number {
    return OPS_ERROR_CATALOG[this.code].exit;
  }
}

export function isOpsErrorCode(code: unknown): code is OpsErrorCode {
  return typeof code === 'string' && Object.hasOwn(OPS_ERROR_CATALOG, code);
}
