// The child side every forked bench server shares: waits for the first IPC message, starts the
// server it names, answers `listening` (or `failed`), and closes the server when the parent
// disconnects (or SIGTERM ends the process). The parent side is harness/baseline-process.ts.
import type { RunningServer } from './raw-echo-server.js';

export type ServerReply = { type: 'listening' } | { type: 'failed'; error: string };

function reply(message: ServerReply): void {
  if (process.connected) process.send?.(message, undefined, undefined, () => undefined);
}

/** Serves the one server the first message asks for, while the parent stays connected. */
export function serveForked<T>(isStart: (value: unknown) => value is T, start: (message: T) => Promise<RunningServer>): void {
  let running: RunningServer | null = null;
  process.once('message', (message: unknown) => {
    if (!isStart(message)) {
      reply({ type: 'failed', error: 'expected a start message' });
      process.disconnect();
      return;
    }
    start(message).then((server) => {
      running = server;
      reply({ type: 'listening' });
    }, (err: unknown) => {
      reply({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
      process.disconnect();
    });
  });
  process.on('disconnect', () => {
    void running?.close();
    running = null;
  });
}
