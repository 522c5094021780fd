// A call that arrives while calls are being moved waits for the move instead of failing — but
// never past its own deadline, and never after the app aborted it.
import { HearthClientError } from '@hearth/protocol';

export async function waitForSwitch(
  switching: Promise<void>,
  deadlineAt: number | undefined,
  signal: AbortSignal | undefined,
  /** Whether an earlier attempt of this call may have run: the error's `sent`. */
  mayHaveRun: boolean,
): Promise<void> {
  if (deadlineAt === undefined && signal === undefined) return switching;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const bounds = new Promise<never>((_, reject) => {
    if (deadlineAt !== undefined) {
      const left = deadlineAt - Date.now();
      const expire = (): void =>
        reject(new HearthClientError('HEARTH_ERR_TIMEOUT', 'the deadline passed while calls were moving to another agent', { sent: mayHaveRun }));
      if (left <= 0) return expire();
      timer = setTimeout(expire, left);
    }
    if (signal) {
      onAbort = (): void => reject(new HearthClientError('HEARTH_ERR_CANCELLED', 'the call was cancelled while calls were moving to another agent', { sent: mayHaveRun }));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    await Promise.race([switching, bounds]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
