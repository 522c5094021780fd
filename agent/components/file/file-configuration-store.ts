// configuration.file: items read from a YAML or JSON file that operators edit in place. The
// directory is watched (editors often replace the file, which a watch on the file itself misses)
// with a slow stat poll as a fallback; a broken or half-written file never replaces good items.
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { HearthError } from '../../errors/hearth-error.js';
import type { ComponentContext, ComponentHealth } from '../component.js';
import type { ConfigurationItem, ConfigurationItems, ConfigurationStore } from '../configuration-store.js';
import { diffItems, notifySubscribers, type ConfigurationSubscriber } from '../configuration-changes.js';

const DEBOUNCE_MS = 100;
const DEFAULT_POLL_MS = 2000;
const ITEM_KEYS = new Set(['value', 'version', 'metadata']);

type Subscriber = ConfigurationSubscriber;

type Phase = 'new' | 'started' | 'closed';

export class FileConfigurationStore implements ConfigurationStore {
  private readonly logger: Logger;
  private readonly file: string;
  private readonly pollMs: number;
  private phase: Phase = 'new';
  private items: ReadonlyMap<string, ConfigurationItem> = new Map();
  private lastText: string | undefined;
  private lastStat = '';
  private lastError: string | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;

  constructor(ctx: ComponentContext) {
    this.logger = ctx.logger.child({ component: ctx.config.name, type: ctx.config.type });
    const given = ctx.config.metadata.path;
    if (typeof given !== 'string' || given.length === 0) {
      throw new HearthError('HEARTH_ERR_CONFIG_INVALID', `component "${ctx.config.name}": metadata.path (the configuration file) is required`);
    }
    this.file = path.resolve(ctx.configDir, given);
    const raw = ctx.config.metadata.pollIntervalMs ?? DEFAULT_POLL_MS;
    // Strings too: `${VAR}` substitution in the configuration always yields strings.
    const poll = typeof raw === 'string' ? Number(raw) : raw;
    if (typeof poll !== 'number' || !Number.isInteger(poll) || poll <= 0) {
      throw new HearthError('HEARTH_ERR_CONFIG_INVALID', `component "${ctx.config.name}": metadata.pollIntervalMs must be a positive integer`);
    }
    this.pollMs = poll;
  }

  async start(): Promise<void> {
    if (this.phase === 'started') return;
    if (this.phase === 'closed') throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', 'configuration store is closed');
    let text: string;
    try {
      this.lastStat = await statKey(this.file);
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      throw new HearthError('HEARTH_ERR_CONFIG_INVALID', `configuration file ${this.file}: ${(err as Error).message}`, undefined, { cause: err });
    }
    try {
      this.items = parseItems(text, this.file);
    } catch (err) {
      throw new HearthError('HEARTH_ERR_CONFIG_INVALID', `configuration file ${this.file}: ${(err as Error).message}`, undefined, { cause: err });
    }
    this.lastText = text;
    this.phase = 'started';
    this.startWatching();
    this.logger.debug({ file: this.file, items: this.items.size }, 'started');
  }

  async close(): Promise<void> {
    this.destroy();
    await this.reloading;
  }

  destroy(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.watcher?.close();
    this.watcher = undefined;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.pollTimer = this.debounceTimer = undefined;
    this.subscribers.clear();
  }

  health(): ComponentHealth {
    if (this.phase !== 'started') return { healthy: false, detail: this.phase === 'new' ? 'not started' : 'closed' };
    // Still serving the last good items, so healthy; the detail says why they may be stale.
    if (this.lastError !== undefined) return { healthy: true, detail: `serving last good items; ${this.lastError}` };
    return { healthy: true };
  }

  async get(keys: readonly string[]): Promise<ConfigurationItems> {
    if (this.phase !== 'started') {
      throw new HearthError('HEARTH_ERR_BACKEND_UNAVAILABLE', `configuration store is ${this.phase === 'new' ? 'not started' : 'closed'}`);
    }
    const out: ConfigurationItems = {};
    if (keys.length === 0) {
      for (const [k, v] of this.items) out[k] = v;
    } else {
      for (const k of keys) {
        const v = this.items.get(k);
        if (v) out[k] = v;
      }
    }
    return out;
  }

  subscribe(keys: readonly string[], onChange: (items: ConfigurationItems) => void): () => void {
    const sub: Subscriber = { keys: new Set(keys), onChange };
    this.subscribers.add(sub);
    return () => {
      this.subscribers.delete(sub);
    };
  }

  private startWatching(): void {
    try {
      this.watcher = watch(path.dirname(this.file), { persistent: false }, (_event, filename) => {
        // filename can be missing on some platforms: then any event in the directory counts.
        if (filename === null || filename === path.basename(this.file)) this.scheduleReload();
      });
      this.watcher.on('error', (err) => {
        this.logger.warn({ err }, 'watching the configuration directory failed; polling only');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.logger.warn({ err }, 'cannot watch the configuration directory; polling only');
    }
    this.pollTimer = setInterval(() => {
      statKey(this.file)
        .then((key) => {
          if (key !== this.lastStat) this.scheduleReload();
        })
        .catch(() => this.scheduleReload());
    }, this.pollMs);
    this.pollTimer.unref();
  }

  /** Debounced: an editor's save is often several events (truncate, write, rename). */
  private scheduleReload(): void {
    if (this.phase !== 'started') return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.triggerReload();
    }, DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  private triggerReload(): void {
    if (this.reloading) {
      this.reloadAgain = true;
      return;
    }
    this.reloading = this.reload()
      .catch((err: unknown) => this.logger.error({ err }, 'configuration reload failed'))
      .finally(() => {
        this.reloading = undefined;
        if (this.reloadAgain) {
          this.reloadAgain = false;
          this.scheduleReload();
        }
      });
  }

  private async reload(): Promise<void> {
    let text: string;
    let next: ReadonlyMap<string, ConfigurationItem>;
    try {
      this.lastStat = await statKey(this.file);
      text = await readFile(this.file, 'utf8');
      if (text === this.lastText && this.lastError === undefined) return;
      next = parseItems(text, this.file);
    } catch (err) {
      const message = `${this.file}: ${(err as Error).message}`;
      if (message !== this.lastError) {
        this.logger.warn({ err, file: this.file }, 'configuration file is unreadable or invalid; keeping the last good items');
      }
      this.lastError = message;
      return;
    }
    if (this.phase !== 'started') return;
    if (this.lastError !== undefined) this.logger.info({ file: this.file }, 'configuration file is valid again');
    this.lastError = undefined;
    this.lastText = text;
    const changed = diffItems(this.items, next);
    this.items = next;
    notifySubscribers(this.subscribers, changed, this.logger);
  }
}

/** Identity of the file's current content as far as stat can tell (catches replace-by-rename). */
async function statKey(file: string): Promise<string> {
  const s = await stat(file);
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}



/** Parses the whole file or throws naming the offending key; never returns a partial result. */
export function parseItems(text: string, file: string): ReadonlyMap<string, ConfigurationItem> {
  let doc: unknown;
  try {
    doc = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new Error(`not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0] ?? ''}`, { cause: err });
  }
  // An empty document is what a half-written file looks like, so it is an error, not "no items".
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new Error('must be a mapping of key to value (use {} for no items)');
  }
  const items = new Map<string, ConfigurationItem>();
  for (const [key, raw] of Object.entries(doc)) {
    items.set(key, Object.freeze(parseItem(key, raw)));
  }
  return items;
}

function parseItem(key: string, raw: unknown): ConfigurationItem {
  const scalar = asString(raw);
  if (scalar !== undefined) return { value: scalar, version: hashValue(scalar), metadata: {} };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error(`${key}: must be a string or a mapping with value, version, metadata`);
  }
  const obj = raw as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!ITEM_KEYS.has(k)) throw new Error(`${key}.${k}: unknown key`);
  }
  const value = asString(obj.value);
  if (value === undefined) throw new Error(`${key}.value: must be a string`);
  let version = hashValue(value);
  if (obj.version !== undefined) {
    const v = asString(obj.version);
    if (v === undefined || v.length === 0) throw new Error(`${key}.version: must be a non-empty string`);
    version = v;
  }
  const metadata: Record<string, string> = {};
  if (obj.metadata !== undefined) {
    if (obj.metadata === null || typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) {
      throw new Error(`${key}.metadata: must be a mapping of strings`);
    }
    for (const [mk, mv] of Object.entries(obj.metadata)) {
      const s = asString(mv);
      if (s === undefined) throw new Error(`${key}.metadata.${mk}: must be a string`);
      metadata[mk] = s;
    }
  }
  return { value, version, metadata: Object.freeze(metadata) };
}

/** Strings as they are; numbers and booleans as YAML wrote them (`port: 8080` means "8080"). */
function asString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

function hashValue(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 16);
}
