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
  HEARTH_ERR_UNAUTHENTICATED: { message: 'missing or invalid admin token', http: 401, exit: 1 },
  HEARTH_ERR_NOT_FOUND: { message: 'no such admin route', http: 404, exit: 1 },
  HEARTH_ERR_INVALID_ARGUMENT: { message: 'the admin request is invalid', http: 400, exit: 1 },
  HEARTH_ERR_UPGRADE_BUSY: { message: 'an upgrade, rollback or reload is already in progress', http: 409, exit: 1 },
  HEARTH_ERR_UPGRADE_INTERRUPTED: { message: 'the hand-off was interrupted by an ops-agent restart', http: 500, exit: 1 },
  HEARTH_ERR_ARTIFACT_SOURCE_FORBIDDEN: { message: 'the artifact source is a file outside upgrade.allowedFileDirs', http: 403, exit: 1 },
  HEARTH_ERR_ARTIFACT_REDIRECT_FORBIDDEN: { message: 'the artifact download was redirected where upgrade.allowedRedirectHosts or upgrade.maxRedirects does not allow', http: 403, exit: 1 },
  HEARTH_ERR_ARTIFACT_DOWNLOAD: { message: 'the artifact could not be downloaded', http: 502, exit: 1 },
  HEARTH_ERR_ARTIFACT_TOO_LARGE: { message: 'the artifact exceeds the size limit', http: 413, exit: 1 },
  HEARTH_ERR_ARTIFACT_CHECKSUM: { message: 'the artifact does not match its sha256', http: 422, exit: 1 },
  HEARTH_ERR_ARTIFACT_SIGNATURE: { message: 'the artifact signature is missing or invalid', http: 422, exit: 1 },
  HEARTH_ERR_ARTIFACT_UNSAFE: { message: 'the artifact contains an unsafe entry (path traversal, link out, device, or over the limits)', http: 422, exit: 1 },
  HEARTH_ERR_ARTIFACT_INVALID: { message: 'the artifact has no valid manifest', http: 422, exit: 1 },
  HEARTH_ERR_ARTIFACT_INCOMPATIBLE: { message: 'the artifact is built for another platform, Node ABI or hand-off protocol', http: 422, exit: 1 },
  HEARTH_ERR_PREFLIGHT_MEMORY: { message: 'not enough free memory for a second generation', http: 507, exit: 1 },
  HEARTH_ERR_PREFLIGHT_DISK: { message: 'not enough free disk in the state directory', http: 507, exit: 1 },
  HEARTH_ERR_GENERATION_FAILED: { message: 'the new generation failed before it was ready (self-check, crash, or no ready in time)', http: 500, exit: 1 },
  HEARTH_ERR_PROTOCOL_MISMATCH: { message: 'the new build speaks another hand-off protocol version', http: 500, exit: 1 },
  HEARTH_ERR_NO_PREVIOUS_VERSION: { message: 'there is no previous version to roll back to', http: 409, exit: 1 },
  HEARTH_ERR_UNKNOWN_VERSION: { message: 'no such installed version', http: 404, exit: 1 },
  HEARTH_ERR_NOT_RUNNING: { message: 'no Hearth answers on the admin socket', http: 503, exit: 1 },
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
