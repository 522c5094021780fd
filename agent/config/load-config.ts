// Reads, substitutes, validates and freezes the configuration. Every problem is reported with
// its path (`apps[1].token: must NOT have fewer than 8 characters`) and all problems at once.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import {
  BUILDING_BLOCKS,
  configSchema,
  type AppAllowConfig,
  type AppChannelConfig,
  type AppTcpConfig,
  type AppSubscriptionConfig,
  type BudgetConfig,
  type BuildingBlock,
  type ComponentConfig,
  type LimitsConfig,
  type PubsubDefaults,
  type QuotaConfig,
  type RawHearthConfig,
  type UpgradeConfig,
  type SocketConfig,
} from './config-schema.js';
import { resolveInvoke, resolveSiblings, type ResolvedInvokeConfig, type ResolvedSiblingsConfig } from './mesh-config.js';
import { checkNetworkTokens, type DeclaredToken } from './network-tokens.js';
import { checkRedisKeySpaces } from './redis-key-spaces.js';
import { tokenFileAccess, tooOpen } from './token-file.js';

/** Longest Unix socket path the kernel accepts (sun_path is 108 bytes with the NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

export interface AppConfig {
  readonly id: string;
  /** sha256 hex of the token; the token itself is never kept. */
  readonly tokenSha256: string;
  readonly socket: Readonly<SocketConfig>;
  readonly allow: Readonly<AppAllowConfig>;
  readonly quota: Readonly<QuotaConfig>;
  /** `budgets` with this app's overrides applied. */
  readonly budgets: Readonly<BudgetConfig>;
  readonly socketDir: string;
  readonly grpcSocket: string;
  readonly httpSocket: string;
  readonly wireSocket: string;
  /** The app's own server, when its invocations go there (docs/app-channel.md). */
  readonly channel?: Readonly<AppChannelConfig> | undefined;
  /** The app's HTTP API on a TCP port too (docs/dapr.md). */
  readonly tcp?: Readonly<AppTcpConfig> | undefined;
  /** Push subscriptions to its channel (docs/app-channel.md). */
  readonly subscriptions?: readonly Readonly<AppSubscriptionConfig>[] | undefined;
}

export interface ResolvedComponentConfig extends ComponentConfig {
  readonly block: BuildingBlock;
  readonly impl: string;
}

export interface HearthConfig {
  readonly version: number;
  /** Absolute path of the file this was read from. */
  readonly source: string;
  readonly runDir: string;
  readonly stateDir: string;
  readonly adminSocket: string;
  readonly workers: number;
  readonly logLevel: RawHearthConfig['logLevel'];
  readonly limits: Readonly<LimitsConfig>;
  readonly pubsub: Readonly<PubsubDefaults>;
  /** The budgets' defaults (each app's, with its overrides, are in apps[].budgets). */
  readonly budgets: Readonly<BudgetConfig>;
  /** publicKeyFile is absolute when set; allowedFileDirs are absolute. */
  readonly upgrade: Readonly<UpgradeConfig>;
  /** The admin TCP listener, when configured; its token is kept only as sha256. */
  readonly adminTcp: { readonly host: string; readonly port: number; readonly tokenSha256: string } | undefined;
  readonly invoke: ResolvedInvokeConfig;
  readonly siblings: ResolvedSiblingsConfig;
  readonly apps: readonly AppConfig[];
  readonly components: readonly ResolvedComponentConfig[];
  /** What is valid but probably not meant (e.g. an app token too short for the sibling port), with its path. */
  readonly warnings: readonly string[];
}

export class ConfigError extends Error {
  readonly code = 'HEARTH_ERR_CONFIG_INVALID';
  readonly problems: readonly string[];
  constructor(file: string, problems: string[]) {
    super(`invalid configuration ${file}:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadOptions {
  /** Environment for `${VAR}` substitution and HEARTH_RUN_DIR / HEARTH_STATE_DIR overrides. */
  env?: Readonly<Record<string, string | undefined>>;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile<RawHearthConfig>(configSchema);

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export async function loadConfig(file: string, options: LoadOptions = {}): Promise<HearthConfig> {
  const source = path.resolve(file);
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (err) {
    throw new ConfigError(source, [`cannot read file: ${(err as Error).message}`]);
  }
  return parseConfig(text, source, options);
}

export async function parseConfig(text: string, source: string, options: LoadOptions = {}): Promise<HearthConfig> {
  const env = options.env ?? {};
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : '';
    throw new ConfigError(source, [`not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(source, ['(root): must be a mapping with at least `version` and `apps`']);
  }
  const problems: string[] = [];
  const substituted = substituteEnv(doc, '', env, problems) as RawHearthConfig;
  if (!validate(substituted)) {
    problems.push(...(validate.errors ?? []).map(formatAjvError));
  }
  if (problems.length > 0) throw new ConfigError(source, problems);

  const raw = substituted;
  const baseDir = path.dirname(source);
  const runDir = path.resolve(baseDir, env.HEARTH_RUN_DIR ?? raw.runDir);
  const stateDir = path.resolve(baseDir, env.HEARTH_STATE_DIR ?? raw.stateDir);

  const apps: AppConfig[] = [];
  const tokens: DeclaredToken[] = [];
  const seenApps = new Set<string>();
  const tokenOwners = new Map<string, string>();
  const tcpPorts = new Map<string, string>();
  for (const [i, app] of raw.apps.entries()) {
    const at = `apps[${i}]`;
    if (seenApps.has(app.id)) problems.push(`${at}.id: duplicate app id "${app.id}"`);
    seenApps.add(app.id);
    const token = await resolveToken(app, at, baseDir, problems);
    if (token !== undefined) tokens.push({ at, appId: app.id, ...token });
    const tokenSha256 = token?.sha256;
    const socketDir = path.join(runDir, 'apps', app.id);
    const sockets = {
      grpcSocket: path.join(socketDir, 'grpc.sock'),
      httpSocket: path.join(socketDir, 'http.sock'),
      wireSocket: path.join(socketDir, 'wire.sock'),
    };
    for (const p of Object.values(sockets)) {
      if (Buffer.byteLength(p) > MAX_SOCKET_PATH_BYTES) {
        problems.push(`runDir: socket path ${p} is ${Buffer.byteLength(p)} bytes; Unix sockets allow ${MAX_SOCKET_PATH_BYTES}`);
        break;
      }
    }
    if (tokenSha256 !== undefined) {
      const first = tokenOwners.get(tokenSha256);
      // Two apps with one token: either could sign in as the other over the network.
      if (first !== undefined) problems.push(`${at}: app "${app.id}" has the same token as app "${first}"; every app needs its own`);
      else tokenOwners.set(tokenSha256, app.id);
    }
    const budgets = Object.freeze({ ...raw.budgets, ...app.budgets });
    if (app.channel !== undefined) checkChannel(app.channel, `${at}.channel`, problems);
    if (app.subscriptions !== undefined && app.subscriptions.length > 0 && app.channel === undefined) {
      problems.push(`${at}.subscriptions: push subscriptions are delivered through the app's channel; set ${at}.channel`);
    }
    if (app.tcp !== undefined) checkTcp(app.tcp, `${at}.tcp`, app.id, tcpPorts, problems);
    apps.push({ id: app.id, tokenSha256: tokenSha256 ?? '', socket: app.socket ?? {}, allow: app.allow, quota: app.quota, budgets, socketDir, ...sockets, channel: app.channel, tcp: app.tcp, subscriptions: app.subscriptions });
  }

  const components: ResolvedComponentConfig[] = [];
  const seenComponents = new Set<string>();
  for (const [i, c] of raw.components.entries()) {
    const [block, impl] = c.type.split('.') as [BuildingBlock, string];
    const key = `${block}/${c.name}`;
    if (seenComponents.has(key)) problems.push(`components[${i}].name: duplicate ${block} component "${c.name}"`);
    seenComponents.add(key);
    if (!BUILDING_BLOCKS.includes(block)) problems.push(`components[${i}].type: unknown building block "${block}"`);
    components.push({ ...c, block, impl });
  }
  checkRedisKeySpaces(raw.components, problems);
  for (const [i, app] of raw.apps.entries()) {
    for (const [j, name] of app.allow.components.entries()) {
      if (name !== '*' && !raw.components.some((c) => c.name === name)) {
        problems.push(`apps[${i}].allow.components[${j}]: no component named "${name}"`);
      }
    }
  }
  let adminTcp: HearthConfig['adminTcp'];
  if (raw.admin.tcp !== undefined) {
    const token = await resolveToken(raw.admin.tcp, 'admin.tcp', baseDir, problems);
    adminTcp = { host: raw.admin.tcp.host, port: raw.admin.tcp.port, tokenSha256: token?.sha256 ?? '' };
  }
  const allowedFileDirs = raw.upgrade.allowedFileDirs.map((dir) => path.resolve(baseDir, dir));
  for (const [i, dir] of allowedFileDirs.entries()) {
    // A root entry would make the list meaningless: every local file could be read.
    if (path.dirname(dir) === dir) problems.push(`upgrade.allowedFileDirs[${i}]: ${dir} is the filesystem root; name the directory that holds the artifacts`);
  }
  const siblings = await resolveSiblings(raw.siblings, baseDir, new Map(raw.components.map((c) => [c.name, c.type])), problems);
  const warnings: string[] = [];
  checkNetworkTokens(tokens, siblings, problems, warnings);
  if (problems.length > 0) throw new ConfigError(source, problems);

  return deepFreeze({
    version: raw.version,
    source,
    runDir,
    stateDir,
    adminSocket: path.join(runDir, 'admin.sock'),
    workers: raw.workers,
    logLevel: raw.logLevel,
    limits: raw.limits,
    pubsub: raw.pubsub,
    budgets: raw.budgets,
    upgrade: {
      ...raw.upgrade,
      allowedFileDirs,
      ...(raw.upgrade.publicKeyFile === undefined ? {} : { publicKeyFile: path.resolve(baseDir, raw.upgrade.publicKeyFile) }),
    },
    adminTcp,
    invoke: resolveInvoke(raw.invoke),
    siblings,
    apps,
    components,
    warnings,
  });
}

/** A token as configured: its sha256, the key it came from and, when given in clear, its length. */
type ResolvedToken = Omit<DeclaredToken, 'at' | 'appId'>;

async function resolveToken(
  app: { token?: string; tokenFile?: string; tokenSha256?: string },
  at: string,
  baseDir: string,
  problems: string[],
): Promise<ResolvedToken | undefined> {
  const given = [app.token, app.tokenFile, app.tokenSha256].filter((v) => v !== undefined).length;
  if (given !== 1) {
    problems.push(`${at}: exactly one of token, tokenFile, tokenSha256 is required (found ${given})`);
    return undefined;
  }
  if (app.token !== undefined) return { key: 'token', sha256: hashToken(app.token), chars: app.token.length };
  if (app.tokenSha256 !== undefined) return { key: 'tokenSha256', sha256: app.tokenSha256, chars: undefined };
  const file = path.resolve(baseDir, app.tokenFile!);
  try {
    const access = await tokenFileAccess(file);
    if (access !== undefined) {
      problems.push(tooOpen(`${at}.tokenFile`, file, access));
      return undefined;
    }
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length < 8) {
      problems.push(`${at}.tokenFile: token in ${file} is shorter than 8 characters`);
      return undefined;
    }
    return { key: 'tokenFile', sha256: hashToken(token), chars: token.length };
  } catch (err) {
    problems.push(`${at}.tokenFile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return undefined;
  }
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${VAR}` and `${VAR:-default}` in every string value; an unset variable is an error. */
function substituteEnv(value: unknown, at: string, env: LoadOptions['env'] & object, problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined) return v;
      if (fallback !== undefined) return fallback;
      problems.push(`${at || '(root)'}: environment variable ${name} is not set`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, `${at}[${i}]`, env, problems));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, substituteEnv(v, at ? `${at}.${k}` : k, env, problems)]),
    );
  }
  return value;
}

function formatAjvError(e: ErrorObject): string {
  // /apps/2/quota/rps -> apps[2].quota.rps
  const where = e.instancePath
    .split('/')
    .slice(1)
    .map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`))
    .join('')
    .replace(/^\./, '');
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return `${where ? `${where}.` : ''}${extra}: unknown key`;
  }
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    return `${where ? `${where}.` : ''}${missing}: is required`;
  }
  if (e.keyword === 'enum') {
    return `${where || '(root)'}: must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
  }
  return `${where || '(root)'}: ${e.message ?? 'is invalid'}`;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * What the schema cannot say about an app channel: a port above 65535, and a TCP address beyond
 * loopback without an appToken (whoever reaches it could pose as the agent and name any caller).
 */
function checkChannel(channel: AppChannelConfig, at: string, problems: string[]): void {
  const address = channel.address;
  if (address.startsWith('unix:')) {
    if (!path.isAbsolute(address.slice('unix:'.length))) problems.push(`${at}.address: "${address}" must name an absolute socket path (unix:/…)`);
    return;
  }
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (!(port >= 1 && port <= 65_535)) problems.push(`${at}.address: port ${port} is not a TCP port (1–65535)`);
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  if (!loopback && channel.appToken === undefined) {
    problems.push(`${at}: address ${address} is not on loopback; set ${at}.appToken so the app's server can tell the agent from anyone else who reaches it`);
  }
}

/**
 * An app's TCP port: on loopback or an address of this host (never a wildcard: no socket names the
 * app there, so nothing beyond this host may reach it), and not another app's.
 */
function checkTcp(tcp: AppTcpConfig, at: string, appId: string, taken: Map<string, string>, problems: string[]): void {
  const host = tcp.host;
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  const local = Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.address === host) === true);
  if (!loopback && !local) problems.push(`${at}.host: ${host} is neither loopback nor an address of this host; the app's TCP port is for local clients only`);
  const key = `${host}:${tcp.httpPort}`;
  const owner = taken.get(key);
  if (owner !== undefined) problems.push(`${at}.httpPort: ${key} is already app "${owner}"'s`);
  else taken.set(key, appId);
}
