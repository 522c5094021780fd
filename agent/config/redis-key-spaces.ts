// Where each Redis component keeps its keys, and the check that no two components' keys can meet.
// The components build their keys from redisKeyPlan() and `hearth validate` reasons about the same
// plans, so what the check proves is what the components write. Pure: no client, no I/O.
//
// Isolated layout (the default): `<keyPrefix>hearth:<type>:<component>:…` with a type segment of
// its own per component type, the component's name (a DNS label: no `:`) closing it, and for the
// stores apps address a sub-prefix `app:` (keys `<appId>||<key>`) or `shared:` (bare keys). Two
// components' keys can then meet only when one keyPrefix extends another by such a literal, which
// checkRedisKeySpaces() refuses. Legacy layout (`keyLayout: legacy`): the keys of earlier builds,
// kept for data written by them; there, components on one database share one key space.
import type { ComponentConfig } from './config-schema.js';

export type RedisKeyLayout = 'isolated' | 'legacy';

/** Every key of the isolated layout starts with this, after the component's keyPrefix. */
const REDIS_KEY_ROOT = 'hearth:';

/** The legacy configuration hash (metadata.hash in the legacy layout, this by default). */
const LEGACY_CONFIGURATION_HASH = 'hearth:configuration';

/** The type segment of each Redis block in the isolated layout. */
const TYPE_SEGMENTS = {
  state: 'state',
  lock: 'lock',
  sequencer: 'seq',
  configuration: 'config',
  registry: 'registry',
} as const;

type RedisBlock = keyof typeof TYPE_SEGMENTS;

/**
 * A set of keys as the check sees it: every key starts with `literal`, followed by nothing (one
 * key), anything, or an app-scoped key `<appId>||<anything>` (app ids are DNS labels: no `|`).
 * Each component's real keys are a subset of its space, so spaces that do not meet are keys that
 * cannot meet.
 */
export interface KeySpace {
  readonly literal: string;
  readonly rest: 'nothing' | 'anything' | 'app-key';
}

export interface RedisKeyPlan {
  readonly layout: RedisKeyLayout;
  /** metadata.keyPrefix ('' when not set). */
  readonly keyPrefix: string;
  /**
   * What starts every key of the component. state, lock, sequencer: prepended to the key as the
   * API layer passes it; configuration: the hash itself; registry: followed by `agent:<id>`,
   * `app:<id>` and `agents`.
   */
  readonly prefix: string;
  readonly space: KeySpace;
}

/** A metadata value the plan cannot use; `key` is the metadata key. */
export class RedisKeyProblem extends Error {
  constructor(
    readonly key: string,
    readonly what: string,
  ) {
    super(`metadata.${key} ${what}`);
    this.name = 'RedisKeyProblem';
  }
}

type PlannedComponent = Pick<ComponentConfig, 'name' | 'type' | 'shared' | 'metadata'>;

/** Where a Redis component's keys live; throws RedisKeyProblem for bad keyPrefix, keyLayout or hash. */
export function redisKeyPlan(c: PlannedComponent): RedisKeyPlan {
  const block = redisBlock(c.type);
  const prefix = optionalString(c.metadata, 'keyPrefix') ?? '';
  const layout = keyLayout(c.metadata);
  const hash = block === 'configuration' ? c.metadata.hash : undefined;
  if (hash !== undefined && layout === 'isolated') {
    throw new RedisKeyProblem('hash', `applies only with keyLayout: legacy (the isolated layout keeps the items in the hash "${prefix}${REDIS_KEY_ROOT}config:${c.name}")`);
  }
  if (hash !== undefined && (typeof hash !== 'string' || hash.length === 0)) throw new RedisKeyProblem('hash', 'must be a non-empty string');
  const keys = layout === 'legacy' ? legacyKeys(block, prefix, c.shared, hash ?? LEGACY_CONFIGURATION_HASH) : isolatedKeys(block, prefix, c.name, c.shared);
  return { layout, keyPrefix: prefix, prefix: keys.literal, space: keys };
}

function isolatedKeys(block: RedisBlock, prefix: string, name: string, shared: boolean): KeySpace {
  const root = `${prefix}${REDIS_KEY_ROOT}${TYPE_SEGMENTS[block]}:`;
  switch (block) {
    case 'configuration':
      return { literal: `${root}${name}`, rest: 'nothing' };
    case 'registry':
      // One hash tag for every key of the component: the registry's scripts need one Cluster slot.
      return { literal: `${root}{${name}}:`, rest: 'anything' };
    default:
      return { literal: `${root}${name}:${shared ? 'shared' : 'app'}:`, rest: shared ? 'anything' : 'app-key' };
  }
}

/** The keys earlier builds wrote: one key space per database (and keyPrefix). */
function legacyKeys(block: RedisBlock, prefix: string, shared: boolean, hash: string): KeySpace {
  const rest = shared ? 'anything' : 'app-key';
  switch (block) {
    case 'state':
      return { literal: prefix, rest };
    case 'lock':
      return { literal: `${prefix}lock||`, rest };
    case 'sequencer':
      return { literal: `${prefix}seq||`, rest };
    case 'configuration':
      return { literal: `${prefix}${hash}`, rest: 'nothing' };
    case 'registry':
      return { literal: `${prefix}{hearth:registry}:`, rest: 'anything' };
  }
}

function redisBlock(type: string): RedisBlock {
  const [block, impl] = type.split('.');
  if (impl !== 'redis' || block === undefined || !(block in TYPE_SEGMENTS)) throw new Error(`not a Redis component type: ${type}`);
  return block as RedisBlock;
}

function keyLayout(metadata: Record<string, unknown>): RedisKeyLayout {
  const v = optionalString(metadata, 'keyLayout') ?? 'isolated';
  if (v !== 'isolated' && v !== 'legacy') throw new RedisKeyProblem('keyLayout', 'must be isolated or legacy');
  return v;
}

/** '' is "not set", as everywhere in metadata (`${VAR:-}` substitution). */
function optionalString(metadata: Record<string, unknown>, key: string): string | undefined {
  const v = metadata[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new RedisKeyProblem(key, 'must be a string');
  return v;
}

const LABEL_ONLY = /^[a-z0-9-]*$/;
const LABEL_THEN_PIPE = /^[a-z0-9-]+\|$/;
const APP_KEY_START = /^[a-z0-9-]+\|\|/;

/** Whether `key` lies in the space. */
export function inKeySpace(space: KeySpace, key: string): boolean {
  if (!key.startsWith(space.literal)) return false;
  const rest = key.slice(space.literal.length);
  return space.rest === 'anything' || (space.rest === 'nothing' ? rest === '' : APP_KEY_START.test(rest));
}

/** Whether some key lies in both spaces. Exact for the languages KeySpace describes. */
export function keySpacesMeet(a: KeySpace, b: KeySpace): boolean {
  const [short, long] = a.literal.length <= b.literal.length ? [a, b] : [b, a];
  if (!long.literal.startsWith(short.literal)) return false;
  // A key of both is short.literal + s = short.literal + d + t, s in short.rest, t in long.rest.
  const d = long.literal.slice(short.literal.length);
  switch (short.rest) {
    case 'anything':
      return true;
    case 'nothing':
      return d === '' && long.rest !== 'app-key';
    case 'app-key':
      if (long.rest === 'nothing') return APP_KEY_START.test(d);
      // d must start some app key; followed by another app key, d cannot end inside the `||`.
      if (long.rest === 'anything') return LABEL_ONLY.test(d) || LABEL_THEN_PIPE.test(d) || APP_KEY_START.test(d);
      return LABEL_ONLY.test(d) || APP_KEY_START.test(d);
  }
}

/**
 * Which Redis database a component's keys go to, as far as its metadata tells: endpoints
 * (normalized `host:port`, `unix:<path>`, or `<sentinelName>@host:port`) and db. Undefined endpoints:
 * not known, so possibly any.
 */
interface RedisTarget {
  readonly mode: string;
  readonly endpoints: ReadonlySet<string> | undefined;
  readonly db: number | undefined;
}

function redisTarget(metadata: Record<string, unknown>): RedisTarget {
  const mode = typeof metadata.mode === 'string' && metadata.mode !== '' ? metadata.mode : 'standalone';
  const dbMeta = metadata.db === undefined || metadata.db === '' ? 0 : Number(metadata.db);
  const db = Number.isInteger(dbMeta) ? dbMeta : undefined;
  if (mode === 'standalone') {
    const url = typeof metadata.url === 'string' ? metadata.url : undefined;
    if (url === undefined) return { mode, endpoints: undefined, db };
    if (!/^rediss?:\/\//.test(url)) return { mode, endpoints: new Set([`unix:${url}`]), db };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { mode, endpoints: undefined, db };
    }
    // ioredis lets the URL's /db win over metadata.db.
    const urlDb = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : undefined;
    return { mode, endpoints: new Set([endpoint(parsed.hostname, parsed.port || '6379')]), db: urlDb === undefined ? db : Number.isInteger(urlDb) ? urlDb : undefined };
  }
  const nodes = parseRedisNodes(metadata.nodes);
  if (!Array.isArray(nodes) || nodes.length === 0) return { mode, endpoints: undefined, db };
  const tag = mode === 'sentinel' ? `${String(metadata.sentinelName)}@` : '';
  // A Cluster has one database.
  return { mode, endpoints: new Set(nodes.map((n) => tag + endpoint(n.host, String(n.port)))), db: mode === 'cluster' ? 0 : db };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

function endpoint(host: string, port: string): string {
  const h = host.toLowerCase();
  return `${LOOPBACK.has(h) ? 'localhost' : h.replace(/^\[(.*)\]$/, '$1')}:${port}`;
}

/** Whether two targets may be one database: different db numbers or disjoint known endpoints of one mode are not. */
function mayShareDatabase(a: RedisTarget, b: RedisTarget): boolean {
  if (a.db !== undefined && b.db !== undefined && a.db !== b.db) return false;
  if (a.mode !== b.mode || a.endpoints === undefined || b.endpoints === undefined) return true;
  for (const e of a.endpoints) if (b.endpoints.has(e)) return true;
  return false;
}

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/**
 * metadata.nodes: `host:port` strings (comma-separated or a list) or `{host, port}` objects.
 * Returns the nodes, or the index and the reason of the first bad one.
 */
export function parseRedisNodes(v: unknown): RedisNode[] | { readonly index: number; readonly what: string } {
  if (v === undefined || v === '') return [];
  const items: unknown[] = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : Array.isArray(v) ? v : [v];
  const nodes: RedisNode[] = [];
  for (const [index, item] of items.entries()) {
    if (typeof item === 'string') {
      const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(item);
      if (!m) return { index, what: `"${item}" is not host:port` };
      nodes.push({ host: m[1] ?? '', port: Number(m[2]) });
      continue;
    }
    const o = item as { host?: unknown; port?: unknown } | null;
    if (typeof o?.host !== 'string' || typeof o.port !== 'number') return { index, what: 'must be host:port or {host, port}' };
    nodes.push({ host: o.host, port: o.port });
  }
  return nodes;
}

/**
 * The semantic check `hearth validate` and start run on the Redis components: every problem of
 * keyPrefix/keyLayout/hash with its path, and every pair of components on a possibly shared
 * database whose keys could meet, naming both. Two legacy components may meet (they always did;
 * each logs its deprecation at start); a component in the isolated layout never.
 */
export function checkRedisKeySpaces(components: readonly PlannedComponent[], problems: string[]): void {
  const planned: { index: number; c: PlannedComponent; plan: RedisKeyPlan; target: RedisTarget }[] = [];
  for (const [index, c] of components.entries()) {
    if (!c.type.endsWith('.redis')) continue;
    try {
      planned.push({ index, c, plan: redisKeyPlan(c), target: redisTarget(c.metadata) });
    } catch (err) {
      if (!(err instanceof RedisKeyProblem)) throw err;
      problems.push(`components[${index}].metadata.${err.key}: ${err.what}`);
    }
  }
  for (const [i, a] of planned.entries()) {
    for (const b of planned.slice(i + 1)) {
      if (a.plan.layout === 'legacy' && b.plan.layout === 'legacy') continue;
      if (!mayShareDatabase(a.target, b.target) || !keySpacesMeet(a.plan.space, b.plan.space)) continue;
      const longer = a.plan.prefix.length > b.plan.prefix.length ? a.plan : b.plan;
      problems.push(
        `components[${b.index}]: the Redis keys of ${describe(b.c, b.plan)} can meet those of ${describe(a.c, a.plan)} (components[${a.index}]) ` +
          `on a database they may share: a key starting ${JSON.stringify(longer.prefix)} can belong to both; give one of them another keyPrefix or db`,
      );
    }
  }
}

function describe(c: PlannedComponent, p: RedisKeyPlan): string {
  return `${c.type} "${c.name}"${p.layout === 'legacy' ? ' (keyLayout: legacy)' : ''}`;
}
