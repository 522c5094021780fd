// What this agent offers the calling app: only the components its ACL lets it use; and the app's
// own attributes (Dapr's extended metadata). An attribute is one file under the app's socket
// directory, written whole (a temp file renamed over it), so every worker of every generation
// reads the same set and two writers never lose each other's keys; they last until the run
// directory is cleared (a reboot on /run).
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppRegistry } from '../apps/app-registry.js';
import { HearthError } from '../errors/hearth-error.js';
import type { BuildingBlock } from '../config/config-schema.js';
import type { ApiDeps } from './app-scope.js';
import type { ComponentInfo, MetadataApi } from './runtime-api.js';

/** What the API layer guarantees per building block, whatever the implementation. */
const CAPABILITIES: Readonly<Record<BuildingBlock, readonly string[]>> = {
  state: ['ETAG', 'TTL', 'TRANSACTIONAL', 'BULK'],
  pubsub: ['AT_LEAST_ONCE', 'DEAD_LETTER', 'CLOUDEVENTS'],
  lock: ['LEASE'],
  sequencer: ['STRICTLY_INCREASING'],
  configuration: ['SUBSCRIBE'],
  registry: [],
};

/** At most this many attributes per app, each key and value at most these sizes. */
export const MAX_ATTRIBUTES = 64;
// Hex in a file name: 2 × 100 characters and a temp suffix stay under NAME_MAX (255).
const MAX_ATTRIBUTE_KEY_CHARS = 100;
const MAX_ATTRIBUTE_VALUE_BYTES = 4096;
const ATTRIBUTES_DIR = 'attributes';

/** Component contracts are versioned with the API, as Dapr reports `v1`. */
const COMPONENT_API_VERSION = 'v1';

export function createMetadataApi(deps: ApiDeps): MetadataApi {
  return {
    get(ctx) {
      const components: ComponentInfo[] = deps.components
        .list()
        // The registry is the agent's own (discovery for invoke), not an app-facing component.
        .filter((c) => c.block !== 'registry' && AppRegistry.canUseComponent(ctx.app, c.name))
        .map((c) => ({
          name: c.name,
          type: c.type,
          version: COMPONENT_API_VERSION,
          // SHARED tells the app its keys are visible to every app allowed on the component.
          capabilities: c.shared ? [...CAPABILITIES[c.block], 'SHARED'] : CAPABILITIES[c.block],
        }));
      return {
        appId: ctx.app.id,
        runtimeVersion: deps.version,
        generation: deps.generation,
        components,
        allowedTopics: [...ctx.app.allow.topics],
        allowedApps: [...ctx.app.allow.apps],
      };
    },

    async attributes(ctx) {
      const dir = path.join(ctx.app.socketDir, ATTRIBUTES_DIR);
      const names = await readdir(dir).catch(() => [] as string[]);
      const out: Record<string, string> = {};
      for (const name of names) {
        if (name.endsWith('.tmp')) continue;
        const value = await readFile(path.join(dir, name), 'utf8').catch(() => undefined);
        if (value !== undefined) out[Buffer.from(name, 'hex').toString('utf8')] = value;
      }
      return out;
    },

    async setAttribute(ctx, key, value) {
      if (key.length === 0 || key.length > MAX_ATTRIBUTE_KEY_CHARS || !/^[\x20-\x7e]+$/.test(key)) {
        throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `an attribute key is 1–${MAX_ATTRIBUTE_KEY_CHARS} printable ASCII characters`);
      }
      if (Buffer.byteLength(value) > MAX_ATTRIBUTE_VALUE_BYTES) {
        throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', `an attribute value is at most ${MAX_ATTRIBUTE_VALUE_BYTES} bytes`);
      }
      const dir = path.join(ctx.app.socketDir, ATTRIBUTES_DIR);
      const file = path.join(dir, Buffer.from(key, 'utf8').toString('hex'));
      if (value === '') {
        await rm(file, { force: true });
        return;
      }
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const existing = await readdir(dir);
      const others = existing.filter((n) => !n.endsWith('.tmp') && n !== path.basename(file)).length;
      if (others >= MAX_ATTRIBUTES) {
        throw new HearthError('HEARTH_ERR_RESOURCE_EXHAUSTED', `an app has at most ${MAX_ATTRIBUTES} attributes; remove one first (PUT it empty)`);
      }
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(tmp, value, { mode: 0o600 });
      await rename(tmp, file);
    },
  };
}
