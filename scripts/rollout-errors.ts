// The codes scripts/rollout itself reports (its own small catalog: it is a separate process from
// the ops-agent). A host's own answers — HEARTH_ERR_GENERATION_FAILED, HEARTH_ERR_UNAUTHENTICATED,
// HEARTH_ERR_ARTIFACT_* … — pass through unchanged from the ops-agent catalog. The names are
// spelled like the ops-agent's where the meaning is the same, so one grep finds both.
// docs/operations.md lists this table; test/deploy/rollout.test.ts keeps the two in sync.

export const ROLLOUT_ERROR_CATALOG = {
  HEARTH_ERR_USAGE: { message: 'invalid command line, hosts file or token file', exit: 2 },
  HEARTH_ERR_NOT_RUNNING: { message: 'no Hearth admin API answers at this address (refused, unreachable, unknown host)', exit: 1 },
  HEARTH_ERR_TIMEOUT: { message: 'the host did not answer within the deadline', exit: 1 },
  HEARTH_ERR_NOT_READY: { message: 'the host is not ready (/readyz is not 200)', exit: 1 },
  HEARTH_ERR_UPGRADE_BUSY: { message: 'a hand-off is already in progress on the host', exit: 1 },
  HEARTH_ERR_NO_PREVIOUS_VERSION: { message: 'the host has no previous version to roll back to', exit: 1 },
  HEARTH_ERR_VERIFY_FAILED: { message: 'after the hand-off the host does not run the expected version', exit: 1 },
  HEARTH_ERR_BAD_ANSWER: { message: 'the host answered something that is not the Hearth admin API, or ended a hand-off without a result', exit: 1 },
  HEARTH_ERR_INTERNAL: { message: 'a bug in the rollout tool', exit: 1 },
} as const satisfies Record<string, { message: string; exit: number }>;

export type RolloutErrorCode = keyof typeof ROLLOUT_ERROR_CATALOG;

/** A failure with a code: the tool's own, or one a host answered with (any string then). */
export class RolloutError extends Error {
  readonly code: string;

  constructor(code: RolloutErrorCode | (string & {}), message?: string) {
    super(message ?? (isRolloutErrorCode(code) ? ROLLOUT_ERROR_CATALOG[code].message : code));
    this.name = 'RolloutError';
    this.code = code;
  }
}

export function isRolloutErrorCode(code: unknown): code is RolloutErrorCode {
  return typeof code === 'string' && Object.hasOwn(ROLLOUT_ERROR_CATALOG, code);
}

/** Code and message of anything thrown, for a summary row. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof RolloutError) return { code: err.code, message: err.message };
  return { code: 'HEARTH_ERR_INTERNAL', message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}
