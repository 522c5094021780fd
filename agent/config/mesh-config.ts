// The mesh half of the configuration resolved for use: per-target invoke policies merged over
// the defaults, and the sibling settings with paths made absolute and tokens read. Kept apart
// from load-config.ts so that file stays about loading.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MIN_NETWORK_TOKEN_CHARS, type DeepPartial, type InvokeConfig, type InvokePolicy, type SiblingsConfig, type SiblingTlsConfig } from './config-schema.js';
import { tokenFileAccess, tooOpen } from './token-file.js';

export interface ResolvedInvokeConfig {
  readonly defaults: Readonly<InvokePolicy>;
  /** Full policies (defaults merged in) for the targets configured explicitly. */
  readonly targets: Readonly<Record<string, Readonly<InvokePolicy>>>;
  readonly callbackConcurrency: number;
}

export interface ResolvedSiblingPeer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly apps: readonly string[];
}

export interface ResolvedSiblingsConfig {
  readonly agentId: string;
  readonly listen: { readonly host: string; readonly port: number } | undefined;
  readonly advertise: { readonly host: string; readonly port: number } | undefined;
  /** Paths absolute. */
  readonly tls: Readonly<SiblingTlsConfig> | undefined;
  /** The cluster token as given (needed to present it to peers); undefined when only its sha256 is known. */
  readonly clusterToken: string | undefined;
  /** sha256 hex of the cluster token; '' when none is configured. */
  readonly clusterTokenSha256: string;
  readonly peers: readonly ResolvedSiblingPeer[];
  readonly registry: string | undefined;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
  /** The sibling port's limits (per worker; docs/operations.md, "Sibling port limits"). */
  readonly handshakeTimeoutMs: number;
  readonly signInTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly maxAuthFailures: number;
}

export function resolveInvoke(raw: InvokeConfig): ResolvedInvokeConfig {
  const targets: Record<string, InvokePolicy> = {};
  for (const [appId, partial] of Object.entries(raw.targets)) targets[appId] = mergePolicy(raw.defaults, partial);
  return { defaults: raw.defaults, targets, callbackConcurrency: raw.callbackConcurrency };
}

/** The policy for calls to `appId`. */
export function policyFor(invoke: ResolvedInvokeConfig, appId: string): Readonly<InvokePolicy> {
  return invoke.targets[appId] ?? invoke.defaults;
}

function mergePolicy(base: InvokePolicy, over: DeepPartial<InvokePolicy>): InvokePolicy {
  return {
    ...base,
    ...pick(over, ['timeoutMs', 'maxAttempts', 'retryBudgetPercent', 'retryBackoffMs']),
    hedge: { ...base.hedge, ...over.hedge },
    outlier: { ...base.outlier, ...over.outlier },
    breaker: { ...base.breaker, ...over.breaker },
  };
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (value[k] !== undefined) out[k] = value[k];
  return out;
}

/** Problems are appended with their config path; the result is usable only when none were added. */
export async function resolveSiblings(
  raw: SiblingsConfig,
  baseDir: string,
  componentTypes: ReadonlyMap<string, string>,
  problems: string[],
): Promise<ResolvedSiblingsConfig> {
  const tls = raw.tls && {
    ...raw.tls,
    certFile: path.resolve(baseDir, raw.tls.certFile),
    keyFile: path.resolve(baseDir, raw.tls.keyFile),
    ...(raw.tls.caFile === undefined ? {} : { caFile: path.resolve(baseDir, raw.tls.caFile) }),
  };
  const given = [raw.token, raw.tokenFile, raw.tokenSha256].filter((v) => v !== undefined).length;
  if (given > 1) problems.push('siblings: at most one of token, tokenFile, tokenSha256');
  let clusterToken = raw.token;
  if (raw.tokenFile !== undefined) {
    const file = path.resolve(baseDir, raw.tokenFile);
    try {
      const access = await tokenFileAccess(file);
      if (access !== undefined) problems.push(tooOpen('siblings.tokenFile', file, access));
      clusterToken = (await readFile(file, 'utf8')).trim();
      if (clusterToken.length < MIN_NETWORK_TOKEN_CHARS) {
        problems.push(`siblings.tokenFile: token in ${file} is shorter than ${MIN_NETWORK_TOKEN_CHARS} characters`);
      }
    } catch (err) {
      problems.push(`siblings.tokenFile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const clusterTokenSha256 =
    raw.tokenSha256 ?? (clusterToken === undefined ? '' : createHash('sha256').update(clusterToken, 'utf8').digest('hex'));

  if (raw.listen !== undefined) {
    // The sibling port has no socket identity: TLS always, and the cluster token is the only thing
    // that makes a caller an agent (a client certificate only gates who may connect: apps that
    // fail over may hold one too).
    if (tls === undefined) problems.push('siblings.tls: is required when siblings.listen is set (the sibling port speaks TLS only)');
    if (clusterTokenSha256 === '') {
      problems.push('siblings: a cluster token (token, tokenFile or tokenSha256) is required when siblings.listen is set (it alone authenticates sibling agents)');
    }
  }
  if (tls?.requireClientCert === true && tls.caFile === undefined) {
    problems.push('siblings.tls.caFile: is required when siblings.tls.requireClientCert is true (client certificates are verified against it)');
  }
  if (raw.registry !== undefined) {
    const type = componentTypes.get(raw.registry);
    if (type === undefined) problems.push(`siblings.registry: no component named "${raw.registry}"`);
    else if (!type.startsWith('registry.')) problems.push(`siblings.registry: component "${raw.registry}" is a ${type}, not a registry`);
  }
  return {
    agentId: raw.agentId ?? os.hostname(),
    listen: raw.listen,
    advertise: raw.advertise ?? (raw.listen && raw.listen.port !== 0 ? { host: raw.listen.host, port: raw.listen.port } : undefined),
    tls,
    clusterToken,
    clusterTokenSha256,
    peers: raw.peers.map((p) => ({ name: p.name ?? `${p.host}:${p.port}`, host: p.host, port: p.port, apps: p.apps })),
    registry: raw.registry,
    poolSize: raw.poolSize,
    connectTimeoutMs: raw.connectTimeoutMs,
    handshakeTimeoutMs: raw.handshakeTimeoutMs,
    signInTimeoutMs: raw.signInTimeoutMs,
    maxConnections: raw.maxConnections,
    maxConnectionsPerAddress: raw.maxConnectionsPerAddress,
    maxAuthFailures: raw.maxAuthFailures,
  };
}
