// Facts about this build: its version and the worker entry the supervisor forks.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  readonly version: string;
  /** Absolute path of dist/agent/main.js next to this file's build. */
  readonly workerExec: string;
}

export function readBuildInfo(): BuildInfo {
  // Compiled to dist/ops-agent/build-info.js: the package root is two levels up.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return {
    version: typeof pkg.version === 'string' ? pkg.version : '0.0.0',
    workerExec: fileURLToPath(new URL('../agent/main.js', import.meta.url)),
  };
}
