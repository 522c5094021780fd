// Entry of a forked probe process for the memory floor: imports the modules named in the first IPC
// message (none: a bare Node process), settles, answers `loaded`, and idles until the parent
// disconnects. The parent reads its RSS/PSS from /proc meanwhile.
const SETTLE_MS = 1_000;

function isImport(value: unknown): value is { type: 'import'; modules: string[] } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.type === 'import' && Array.isArray(v.modules) && v.modules.every((m) => typeof m === 'string');
}

function reply(message: { type: 'loaded' } | { type: 'failed'; error: string }): void {
  if (process.connected) process.send?.(message, undefined, undefined, () => undefined);
}

process.once('message', (message: unknown) => {
  if (!isImport(message)) {
    reply({ type: 'failed', error: 'expected an import message' });
    return;
  }
  Promise.all(message.modules.map((m) => import(m) as Promise<unknown>))
    .then(() => new Promise((resolve) => setTimeout(resolve, SETTLE_MS)))
    .then(() => reply({ type: 'loaded' }), (err: unknown) => reply({ type: 'failed', error: String(err) }));
});

// Keeps the process alive until the parent disconnects (the IPC channel alone would too, but say so).
process.on('disconnect', () => undefined);
