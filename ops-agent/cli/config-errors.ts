// How the CLI reports a configuration that cannot be used: the file, then every problem with its path.
export function printConfigError(err: unknown): number {
  const e = err as { code?: unknown; message?: unknown };
  if (e.code === 'HEARTH_ERR_CONFIG_INVALID') {
    console.error(`hearth: ${String(e.message)}`);
  } else {
    console.error(`hearth: cannot load the configuration: ${err instanceof Error ? err.message : String(err)}`);
  }
  return 1;
}
