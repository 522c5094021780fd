// Reading a component's `metadata`: every backend validates its keys the same way and names the
// key in its HEARTH_ERR_CONFIG_INVALID. Values may be strings where a number or boolean is meant:
// `${VAR}` substitution in the configuration always yields strings. An empty string is "not set".
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { HearthError } from '../errors/hearth-error.js';
import type { ComponentContext } from './component.js';

export class MetadataReader {
  constructor(private readonly ctx: ComponentContext) {}

  bad(key: string, what: string): HearthError {
    return new HearthError('HEARTH_ERR_CONFIG_INVALID', `component "${this.ctx.config.name}": metadata.${key} ${what}`, { key });
  }

  raw(key: string): unknown {
    const v = this.ctx.config.metadata[key];
    return v === '' ? undefined : v;
  }

  string(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw this.bad(key, 'must be a string');
    return v;
  }

  int(key: string, fallback: number, min = 1): number {
    const v = this.raw(key);
    if (v === undefined) return fallback;
    const n = typeof v === 'string' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw this.bad(key, `must be an integer >= ${min}`);
    return n;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return fallback;
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    throw this.bad(key, 'must be true or false');
  }

  file(key: string): Buffer | undefined {
    const f = this.string(key);
    if (f === undefined) return undefined;
    try {
      return readFileSync(path.resolve(this.ctx.configDir, f));
    } catch (err) {
      throw this.bad(key, `cannot be read: ${(err as Error).message}`);
    }
  }
}
