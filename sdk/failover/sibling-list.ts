// The ranked list of sibling agents an app may fail over to, and the TLS material to reach them,
// from options or from the environment (HEARTH_SIBLINGS="host:port,host:port" in rank order,
// HEARTH_SIBLING_CA / _CERT / _KEY / _SERVERNAME). The environment is passed in, never read from
// `process` here, so the client decides where configuration comes from.
import { readFileSync } from 'node:fs';
import { HearthClientError } from '@hearth/protocol';

export interface SiblingEndpoint {
  /** Shown in events and logs; default `host:port`. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Lower is preferred. Default: the position in the list, so the list is the ranking. Equal
   *  priorities are ordered by measured ping round trip. */
  readonly priority: number;
}

export interface SiblingEndpointInput {
  readonly host: string;
  readonly port: number;
  readonly name?: string;
  readonly priority?: number;
}

/** PEM contents (not paths): what node:tls wants. */
export interface SiblingTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** Name checked in the sibling's certificate; default the host dialled. */
  readonly servername?: string;
}

export function normalizeSiblings(list: readonly (SiblingEndpointInput | string)[]): SiblingEndpoint[] {
  return list.map((entry, index) => {
    const input = typeof entry === 'string' ? parseHostPort(entry) : entry;
    if (!Number.isInteger(input.port) || input.port <= 0 || input.port > 65535) {
      throw configError(`sibling ${input.host}:${input.port}: port must be an integer from 1 to 65535`);
    }
    if (input.host === '') throw configError(`sibling ${index}: host is empty`);
    return {
      name: input.name ?? `${input.host}:${input.port}`,
      host: input.host,
      port: input.port,
      priority: input.priority ?? index,
    };
  });
}

/** `host:port` or `[v6]:port`. */
export function parseHostPort(text: string): SiblingEndpointInput {
  const trimmed = text.trim();
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(trimmed);
  if (!match) throw configError(`sibling "${trimmed}": expected host:port or [ipv6]:port`);
  return { host: (match[1] ?? match[2]) as string, port: Number(match[3]) };
}

/** HEARTH_SIBLINGS: comma separated, in rank order; empty or unset = no siblings. */
export function siblingsFromEnv(env: Readonly<Record<string, string | undefined>>): SiblingEndpoint[] {
  const raw = env.HEARTH_SIBLINGS ?? '';
  const entries = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return normalizeSiblings(entries);
}

/** Reads HEARTH_SIBLING_CA / _CERT / _KEY (file paths) and HEARTH_SIBLING_SERVERNAME. */
export function siblingTlsFromEnv(env: Readonly<Record<string, string | undefined>>): SiblingTls {
  const read = (name: string): string | undefined => {
    const file = env[name];
    if (file === undefined || file === '') return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw configError(`${name}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
    }
  };
  const servername = env.HEARTH_SIBLING_SERVERNAME;
  return {
    ...optional('ca', read('HEARTH_SIBLING_CA')),
    ...optional('cert', read('HEARTH_SIBLING_CERT')),
    ...optional('key', read('HEARTH_SIBLING_KEY')),
    ...optional('servername', servername === '' ? undefined : servername),
  };
}

/** Siblings sorted by (priority, rtt, list position). */
export function rankByPriorityThenRtt<T extends { endpoint: SiblingEndpoint; rttMs: number }>(candidates: readonly T[]): T[] {
  return [...candidates].sort((a, b) => a.endpoint.priority - b.endpoint.priority || a.rttMs - b.rttMs);
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

function configError(message: string, cause?: unknown): HearthClientError {
  return new HearthClientError('HEARTH_ERR_INVALID_ARGUMENT', message, { sent: false, cause });
}
