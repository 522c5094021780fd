// manifest.json at the root of a release artifact: what the build is and what it needs. Unknown
// fields are allowed so a newer packager can add some without breaking older agents.
import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';
import { OpsError } from '../ops-errors.js';

export interface ArtifactManifest {
  readonly name: 'hearth';
  /** Build version; also the directory name under `<state>/versions/`. */
  readonly version: string;
  /** `process.platform` of the build host. */
  readonly platform: string;
  /** `process.arch` of the build host. */
  readonly arch: string;
  /** `process.versions.modules` of the Node that built the native modules. */
  readonly nodeAbi: number;
  /** Hand-off protocol version the build writes (`HANDOFF_PROTOCOL_VERSION`). */
  readonly protocol: number;
  /** ISO 8601 build time. */
  readonly builtAt: string;
  /** Entry points, relative to the artifact root. */
  readonly entry: { readonly worker: string; readonly cli: string };
}

/** What this agent runs: the values an artifact must match. */
export interface HostPlatform {
  readonly platform: string;
  readonly arch: string;
  readonly nodeAbi: number;
  /** Hand-off protocol versions this agent reads (a single number means exactly that one). */
  readonly protocol: number | readonly number[];
}

/** A version must be usable as a directory name: no separators, no leading dot. */
export const VERSION_PATTERN = '^[0-9A-Za-z][0-9A-Za-z.+_-]{0,127}$';
const VERSION_RE = new RegExp(VERSION_PATTERN);
/** Relative path inside the artifact, no `..`, no leading slash. */
const ENTRY_PATTERN = '^(?!/)(?!.*(^|/)\\.\\.?(/|$))[A-Za-z0-9._/-]{1,256}$';
const ISO_TIME_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$';

export const manifestSchema: SchemaObject = {
  type: 'object',
  additionalProperties: true,
  required: ['name', 'version', 'platform', 'arch', 'nodeAbi', 'protocol', 'builtAt', 'entry'],
  properties: {
    name: { type: 'string', const: 'hearth' },
    version: { type: 'string', pattern: VERSION_PATTERN },
    platform: { type: 'string', minLength: 1, maxLength: 64 },
    arch: { type: 'string', minLength: 1, maxLength: 64 },
    nodeAbi: { type: 'integer', minimum: 1 },
    protocol: { type: 'integer', minimum: 1 },
    builtAt: { type: 'string', pattern: ISO_TIME_PATTERN },
    entry: {
      type: 'object',
      additionalProperties: true,
      required: ['worker', 'cli'],
      properties: {
        worker: { type: 'string', pattern: ENTRY_PATTERN },
        cli: { type: 'string', pattern: ENTRY_PATTERN },
      },
    },
  },
};

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile<ArtifactManifest>(manifestSchema);

export function isValidVersion(version: unknown): version is string {
  return typeof version === 'string' && VERSION_RE.test(version);
}

/** The manifest, or HEARTH_ERR_ARTIFACT_INVALID naming every problem with its path. */
export function parseManifest(text: string, source = 'manifest.json'): ArtifactManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_INVALID', `${source} is not valid JSON: ${(err as Error).message}`);
  }
  if (!validate(value)) {
    const problems = (validate.errors ?? []).map(formatError).join('; ');
    throw new OpsError('HEARTH_ERR_ARTIFACT_INVALID', `${source} is invalid: ${problems}`);
  }
  return Object.freeze({ ...value, entry: Object.freeze({ ...value.entry }) });
}

/** Throws HEARTH_ERR_ARTIFACT_INCOMPATIBLE naming the first mismatch. */
export function checkCompatibility(manifest: ArtifactManifest, host: HostPlatform): void {
  const v = manifest.version;
  if (manifest.platform !== host.platform) {
    throw incompatible(`version ${v} is built for platform ${manifest.platform}, this agent runs ${host.platform}`);
  }
  if (manifest.arch !== host.arch) {
    throw incompatible(`version ${v} is built for ${manifest.arch}, this agent runs ${host.arch}`);
  }
  if (manifest.nodeAbi !== host.nodeAbi) {
    throw incompatible(`version ${v} is built for Node ABI ${manifest.nodeAbi}, this agent runs ${host.nodeAbi}`);
  }
  const protocols = typeof host.protocol === 'number' ? [host.protocol] : host.protocol;
  if (!protocols.includes(manifest.protocol)) {
    throw incompatible(`version ${v} speaks hand-off protocol ${manifest.protocol}, this agent supports ${protocols.join(', ')}`);
  }
}

function incompatible(message: string): OpsError {
  return new OpsError('HEARTH_ERR_ARTIFACT_INCOMPATIBLE', message);
}

function formatError(e: ErrorObject): string {
  const where = e.instancePath === '' ? '(root)' : e.instancePath.slice(1).replaceAll('/', '.');
  if (e.keyword === 'required') return `${where}: missing ${String((e.params as { missingProperty?: unknown }).missingProperty)}`;
  return `${where}: ${e.message ?? 'invalid'}`;
}
