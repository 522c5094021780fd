// The configuration schema: the single source of truth for shape, defaults and limits
// (STYLE.md 2). The ops-agent and the agent workers load the file through the same loader.
import type { SchemaObject } from 'ajv';

export const CONFIG_FORMAT_VERSIONS = [1] as const;
/** `registry` is internal (service discovery for invoke); apps never address it. */
export const BUILDING_BLOCKS = ['state', 'pubsub', 'lock', 'sequencer', 'configuration', 'registry'] as const;
export type BuildingBlock = (typeof BUILDING_BLOCKS)[number];

/**
 * Component types this build implements. The schema rejects any other, so `hearth validate`
 * catches a typo before a worker starts; a test keeps this list and the registry in sync.
 */
export const COMPONENT_TYPES = [
  'state.sqlite',
  'pubsub.sqlite',
  'lock.sqlite',
  'sequencer.sqlite',
  'configuration.file',
  'state.redis',
  'lock.redis',
  'sequencer.redis',
  'configuration.redis',
  'registry.redis',
  'pubsub.kafka',
] as const;

export interface LimitsConfig {
  maxBodyBytes: number;
  maxKeyBytes: number;
  maxBulkKeys: number;
  maxTransactionOps: number;
}

export interface PubsubDefaults {
  ackDeadlineMs: number;
  maxDeliveryAttempts: number;
  maxInFlightPerStream: number;
}

export interface SocketConfig {
  owner?: string | number;
  group?: string | number;
}

export interface AppAllowConfig {
  /** Component names (any building block) the app may use; `*` for all. */
  components: string[];
  /** Topics the app may publish and subscribe to; `*` for all. */
  topics: string[];
  /** App ids the app may invoke; `*` for all. */
  apps: string[];
}

export interface RawAppConfig {
  id: string;
  token?: string;
  tokenFile?: string;
  tokenSha256?: string;
  socket?: SocketConfig;
  allow: AppAllowConfig;
}

export interface ComponentConfig {
  name: string;
  type: string;
  /** Keys are not namespaced per app: every allowed app sees the same keys. */
  shared: boolean;
  metadata: Record<string, unknown>;
}

export interface UpgradeConfig {
  /** A new generation must report ready within this. */
  readyTimeoutMs: number;
  /** The old generation must exit within this after `drain`, or it is killed. */
  drainTimeoutMs: number;
  /** Keep this many installed versions (the active one always stays). */
  keepVersions: number;
  /** ed25519 public key (PEM); when set, every artifact must carry a valid signature. */
  publicKeyFile?: string;
  maxArtifactBytes: number;
  /** Limits for unpacking an artifact. */
  maxArtifactEntries: number;
  maxUnpackedBytes: number;
  downloadTimeoutMs: number;
  downloadRetries: number;
  /** Free memory required for a second generation = measured worker RSS × workers × this. */
  memoryHeadroom: number;
  /** Free disk required in the state dir, as a multiple of the artifact size. */
  diskHeadroom: number;
  /** A new version whose workers crash this many times within crashLoopWindowMs is rolled back. */
  crashLoopRestarts: number;
  crashLoopWindowMs: number;
}

export interface AdminTcpConfig {
  host: string;
  port: number;
  /** Bearer token for the TCP listener (the Unix socket relies on its file permissions). */
  token?: string;
  tokenFile?: string;
  tokenSha256?: string;
}

export interface AdminConfig {
  /** Optional TCP listener for a fleet manager; off unless set. */
  tcp?: AdminTcpConfig;
}

export interface RawHearthConfig {
  version: number;
  runDir: string;
  stateDir: string;
  workers: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  limits: LimitsConfig;
  pubsub: PubsubDefaults;
  upgrade: UpgradeConfig;
  admin: AdminConfig;
  apps: RawAppConfig[];
  components: ComponentConfig[];
}

const ID_PATTERN = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';

/** Validated with ajv (useDefaults, strict); `RawHearthConfig` is the shape it guarantees. */
export const configSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'apps'],
  properties: {
    version: { type: 'integer', enum: [...CONFIG_FORMAT_VERSIONS] },
    runDir: { type: 'string', minLength: 1, default: '/run/hearth' },
    stateDir: { type: 'string', minLength: 1, default: '/var/lib/hearth' },
    workers: { type: 'integer', minimum: 1, maximum: 64, default: 2 },
    logLevel: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        maxBodyBytes: { type: 'integer', minimum: 1024, maximum: 256 * 1024 * 1024, default: 4 * 1024 * 1024 },
        maxKeyBytes: { type: 'integer', minimum: 1, maximum: 65536, default: 1024 },
        maxBulkKeys: { type: 'integer', minimum: 1, maximum: 100000, default: 1000 },
        maxTransactionOps: { type: 'integer', minimum: 1, maximum: 100000, default: 1000 },
      },
    },
    pubsub: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        ackDeadlineMs: { type: 'integer', minimum: 100, maximum: 3_600_000, default: 30_000 },
        maxDeliveryAttempts: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
        maxInFlightPerStream: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
      },
    },
    upgrade: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        readyTimeoutMs: { type: 'integer', minimum: 1000, maximum: 600_000, default: 60_000 },
        drainTimeoutMs: { type: 'integer', minimum: 100, maximum: 3_600_000, default: 30_000 },
        keepVersions: { type: 'integer', minimum: 1, maximum: 100, default: 3 },
        publicKeyFile: { type: 'string', minLength: 1 },
        maxArtifactBytes: { type: 'integer', minimum: 1024, default: 512 * 1024 * 1024 },
        maxArtifactEntries: { type: 'integer', minimum: 1, default: 200_000 },
        maxUnpackedBytes: { type: 'integer', minimum: 1024, default: 2 * 1024 * 1024 * 1024 },
        downloadTimeoutMs: { type: 'integer', minimum: 100, default: 120_000 },
        downloadRetries: { type: 'integer', minimum: 0, maximum: 100, default: 3 },
        memoryHeadroom: { type: 'number', minimum: 0, default: 1.5 },
        diskHeadroom: { type: 'number', minimum: 0, default: 3 },
        crashLoopRestarts: { type: 'integer', minimum: 1, default: 3 },
        crashLoopWindowMs: { type: 'integer', minimum: 1000, default: 300_000 },
      },
    },
    admin: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        tcp: {
          type: 'object',
          additionalProperties: false,
          required: ['port'],
          properties: {
            host: { type: 'string', minLength: 1, default: '127.0.0.1' },
            port: { type: 'integer', minimum: 0, maximum: 65535 },
            token: { type: 'string', minLength: 16 },
            tokenFile: { type: 'string', minLength: 1 },
            tokenSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          },
        },
      },
    },
    apps: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: {
          id: { type: 'string', pattern: ID_PATTERN },
          token: { type: 'string', minLength: 8 },
          tokenFile: { type: 'string', minLength: 1 },
          tokenSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          socket: {
            type: 'object',
            additionalProperties: false,
            required: [],
            properties: {
              owner: { type: ['string', 'integer'] },
              group: { type: ['string', 'integer'] },
            },
          },
          allow: {
            type: 'object',
            additionalProperties: false,
            default: {},
            required: [],
            properties: {
              components: { type: 'array', items: { type: 'string', minLength: 1 }, default: ['*'] },
              topics: { type: 'array', items: { type: 'string', minLength: 1 }, default: ['*'] },
              apps: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
            },
          },
        },
      },
    },
    components: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'type'],
        properties: {
          name: { type: 'string', pattern: ID_PATTERN },
          type: { type: 'string', enum: [...COMPONENT_TYPES] },
          shared: { type: 'boolean', default: false },
          metadata: { type: 'object', default: {}, required: [] },
        },
      },
    },
  },
};
