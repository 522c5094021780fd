// When may a call that failed with its agent be sent again elsewhere? Nothing the app sent is
// silently dropped, and nothing runs twice unless the app said it may.
import { AGENT_UNAVAILABLE, HearthClientError, isHearthClientError } from '@hearth/protocol';
import type { CallOptions } from '../transport.js';

export const CALL_INTERRUPTED = 'HEARTH_ERR_CALL_INTERRUPTED';

/**
 * The error means the agent (or our connection to it) failed, not that the call failed: the
 * connection was refused or lost, or the agent refused the call because it is draining (a
 * draining agent answers before doing any work).
 */
export function isAgentFailure(err: unknown): err is HearthClientError {
  return isHearthClientError(err) && (err.code === AGENT_UNAVAILABLE || err.code === 'HEARTH_ERR_DRAINING');
}

/** Whether the call may have run on the failed agent. */
export function mayHaveRun(err: HearthClientError): boolean {
  return err.code === AGENT_UNAVAILABLE && err.sent;
}

/**
 * Replay when the call never ran (not sent, or refused while draining), when the app marked it
 * idempotent, or when it carries a deadline with time left: the deadline bounds how long the app
 * waits, and the agents refuse a spent budget, so the replay cannot outlive the caller's intent.
 */
export function mayReplay(err: HearthClientError, options: CallOptions, deadlineAt: number | undefined, now: number): boolean {
  if (!mayHaveRun(err)) return true;
  if (options.idempotent === true) return true;
  return deadlineAt !== undefined && deadlineAt > now;
}

export function interrupted(method: string, agent: string, cause: HearthClientError): HearthClientError {
  return new HearthClientError(
    CALL_INTERRUPTED,
    `${method}: ${agent} failed with the call in flight; it was neither idempotent nor deadline-bounded, so it was not replayed (it may have run)`,
    { sent: true, cause, details: { agent } },
  );
}
