// What every building block does before touching a component: resolve it by name and block,
// check the app's ACL, validate keys, and namespace them per app. Kept in one place so state,
// lock and sequencer cannot drift apart on isolation rules.
import type { AppBudgets } from '../apps/app-budgets.js';
import { AppRegistry, KEY_SEPARATOR } from '../apps/app-registry.js';
import type { BuildingBlock } from '../config/config-schema.js';
import type { HearthConfig } from '../config/load-config.js';
import { HearthError, toHearthError } from '../errors/hearth-error.js';
import type { BlockComponents } from '../components/component-set.js';
import type { CallContext, Metadata } from './runtime-api.js';
import type { ComponentLookup } from './component-lookup.js';

export interface ApiDeps {
  readonly components: ComponentLookup;
  readonly config: HearthConfig;
  readonly version: string;
  readonly generation: number;
  /** Counts and logs budget refusals made below the API (a broker at budgets.subscriptions). */
  readonly budgets?: AppBudgets | undefined;
}

export interface ResolvedComponent<T> {
  readonly name: string;
  readonly component: T;
  /** Shared components see the keys as given; the others see `<appId>||<key>`. */
  readonly shared: boolean;
}

/** Unknown name → STORE_NOT_FOUND (naming it); known but not allowed → PERMISSION_DENIED. */
export function resolveComponent<B extends Exclude<BuildingBlock, 'registry'>>(
  deps: ApiDeps,
  ctx: CallContext,
  block: B,
  name: string,
): ResolvedComponent<BlockComponents[B]> {
  const found = name === '' ? undefined : deps.components.find(block, name);
  if (found === undefined) {
    const what = name === '' ? `a ${block} component name is required` : `no ${block} component named "${name}"`;
    throw new HearthError('HEARTH_ERR_STORE_NOT_FOUND', what, { block, name });
  }
  if (!AppRegistry.canUseComponent(ctx.app, name)) {
    throw new HearthError('HEARTH_ERR_PERMISSION_DENIED', `app "${ctx.app.id}" may not use ${block} component "${name}"`, {
      block,
      name,
    });
  }
  return { name, component: found.component, shared: found.shared };
}

// U+0000–U+001F and U+007F: they break logs, HTTP paths and some backends' key syntax.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Throws HEARTH_ERR_INVALID_KEY unless `key` is a usable app key. */
export function validateKey(deps: ApiDeps, key: string, what = 'key'): void {
  const reason = keyProblem(deps, key);
  if (reason !== undefined) {
    throw new HearthError('HEARTH_ERR_INVALID_KEY', `${what} ${reason}`, { [what]: printable(key) });
  }
}

function keyProblem(deps: ApiDeps, key: string): string | undefined {
  return nameProblem(deps, key) ?? (key.includes(KEY_SEPARATOR) ? `contains the reserved separator "${KEY_SEPARATOR}"` : undefined);
}

function nameProblem(deps: ApiDeps, value: string): string | undefined {
  if (value === '') return 'is empty';
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > deps.config.limits.maxKeyBytes) return `is ${bytes} bytes; the limit is ${deps.config.limits.maxKeyBytes}`;
  if (CONTROL_CHARS.test(value)) return 'contains control characters';
  return undefined;
}

/** Error details must stay loggable: long or binary keys are cut and escaped. */
function printable(key: string): string {
  const cut = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  return JSON.stringify(cut).slice(1, -1);
}

/** `<appId>||<key>` unless the component is shared. The key must be validated already. */
export function scopeKey(ctx: CallContext, shared: boolean, key: string): string {
  return shared ? key : `${ctx.app.id}${KEY_SEPARATOR}${key}`;
}

/** Non-empty, bounded, printable: for owners, topics and ids (the separator is harmless there). */
export function validateName(deps: ApiDeps, value: string, what: string): void {
  const reason = nameProblem(deps, value);
  if (reason !== undefined) {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `${what} ${reason}`, { [what]: printable(value) });
  }
}

/** Bulk and transaction sizes are bounded so one request cannot hold a backend for long. */
export function checkCount(count: number, limit: number, what: string): void {
  if (count > limit) {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `${count} ${what}; the limit is ${limit}`, { count, limit });
  }
}

/** `ttlInSeconds` from item metadata: absent → no TTL; a non-negative integer otherwise. */
export function parseTtl(metadata: Metadata | undefined): number | undefined {
  const raw = metadata?.ttlInSeconds;
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw))) {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `ttlInSeconds must be a non-negative integer, got "${printable(raw)}"`);
  }
  return Number(raw);
}

/** Integer within [min, max]; undefined or 0 selects the default (proto3 has no "unset"). */
export function boundedInt(value: number | undefined, fallback: number, min: number, max: number, what: string): number {
  if (value === undefined || value === 0) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `${what} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/** Makes every failure a HearthError (component bugs become HEARTH_ERR_INTERNAL with a cause). */
export function guard<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    try {
      return await fn(...args);
    } catch (err) {
      throw toHearthError(err);
    }
  };
}
