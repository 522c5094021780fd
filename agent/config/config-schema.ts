// The configuration schema: the single source of truth for shape, defaults and limits, so the
// docs, the validator and the defaults cannot disagree. The ops-agent and the agent workers load
// the file through the same loader.
import type { SchemaObject } from 'ajv';
import { APP_ID_SOURCE } from '@hearth/protocol';

export const CONFIG_FORMAT_VERSIONS = [1] as const;
/**
 * Shortest token accepted over the network (the sibling port): 32 characters, 128 bits as hex
 * (`openssl rand -hex 32` gives 64). The cluster token must have it; a shorter app token still
 * works on the app's own sockets, where the socket is the identity.
 */
export const MIN_NETWORK_TOKEN_CHARS = 32;
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
  /** V8 old-space limit of each worker (--max-old-space-size); 0 = Node's default. */
  workerHeapMb: number;
}

export interface PubsubDefaults {
  ackDeadlineMs: number;
  maxDeliveryAttempts: number;
  maxInFlightPerStream: number;
  /** A durable subscription (group) nobody consumed this long is deleted with what it holds. */
  subscriptionIdleSeconds: number;
  /** The same for a subscription only pulled (not asked to be durable). */
  pullSubscriptionIdleSeconds: number;
}

/**
 * What one app may make the agent hold (`budgets`, overridden per app by `apps[].budgets`).
 * Over a budget, that app alone is refused with HEARTH_ERR_RESOURCE_EXHAUSTED (docs/isolation.md).
 */
export interface BudgetConfig {
  /** Open connections per app socket (grpc.sock, http.sock, wire.sock), per worker. */
  connectionsPerSocket: number;
  /** A connection with no call or stream open for this long is closed. */
  idleTimeoutMs: number;
  /** Open streams (subscriptions, callback streams, configuration watches), per worker. */
  streams: number;
  /** Subscriptions (consumer groups) per pub/sub component, host-wide. */
  subscriptions: number;
  /** Delivery bytes queued for one stream before the agent stops claiming more for it. */
  bufferedBytesPerStream: number;
  /** The same over all of the app's streams, per worker. */
  bufferedBytes: number;
  /** Invocations pushed to the app's instances and not yet answered, per worker. */
  pendingCallbacks: number;
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
  /** App ids that may invoke this app; `*` for all (the default). */
  callers: string[];
}

/** Per-app quotas, enforced by each worker process; 0 = unlimited. */
export interface QuotaConfig {
  /** Calls in progress at once (streams count while open). */
  maxInFlight: number;
  requestsPerSecond: number;
  /** Request bytes per second. */
  bytesPerSecond: number;
  /** Token-bucket depth for the two rates, in seconds of the rate. */
  burstSeconds: number;
}

export interface HedgePolicy {
  enabled: boolean;
  /** Send a backup request once the first has taken longer than this percentile of the target's latency. */
  percentile: number;
  /** Never hedge earlier than this. */
  minDelayMs: number;
  /** Backup requests stay under this share of requests. */
  budgetPercent: number;
}

export interface OutlierPolicy {
  /** An endpoint failing this many calls in a row is ejected. */
  consecutiveFailures: number;
  /** First ejection time; doubles for each repeated ejection, up to 10×. */
  ejectionMs: number;
  /** Never eject more than this share of a target's endpoints. */
  maxEjectedPercent: number;
}

export interface BreakerPolicy {
  /** Opens when this share of calls in the window failed... */
  failureRatio: number;
  /** ...and the window holds at least this many calls. */
  minRequests: number;
  windowMs: number;
  /** Open for this long, then half-open: one probe call decides. */
  openMs: number;
}

/** How calls to one target app are governed (invoke.defaults, overridden by invoke.targets.<appId>). */
export interface InvokePolicy {
  /** Deadline of a call that carries none. */
  timeoutMs: number;
  /** Tries in total for a retryable call (1 = no retry). */
  maxAttempts: number;
  /** Retries stay under this share of requests. */
  retryBudgetPercent: number;
  /** First retry backoff; doubles per attempt, with jitter. */
  retryBackoffMs: number;
  hedge: HedgePolicy;
  outlier: OutlierPolicy;
  breaker: BreakerPolicy;
}

export interface InvokeConfig {
  defaults: InvokePolicy;
  /** Per target app: any subset of InvokePolicy (nested objects merge field by field). */
  targets: Record<string, DeepPartial<InvokePolicy>>;
  /** Invocations one callback stream gets at once unless it asks for fewer or more. */
  callbackConcurrency: number;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export interface SiblingPeerConfig {
  /** Shown in logs and metrics; defaults to host:port. */
  name?: string;
  host: string;
  port: number;
  /** Apps known to run behind this peer; empty = ask it (it answers HEARTH_ERR_APP_UNAVAILABLE when it has none). */
  apps: string[];
}

export interface SiblingTlsConfig {
  certFile: string;
  keyFile: string;
  /** CA bundle that signs sibling certificates; when absent, the system store. */
  caFile?: string;
  /** Mutual TLS: callers must present a certificate signed by caFile. */
  requireClientCert: boolean;
  /** Name checked in the peers' certificates; default: the host dialled. */
  serverName?: string;
}

export interface SiblingsConfig {
  /** This agent's id in the registry and in forwarded calls; default: the host name. */
  agentId?: string;
  /** The agent-to-agent listener (wire protocol over TLS). Off unless set. */
  listen?: { host: string; port: number };
  /** Address other agents dial to reach this one (registry); default: listen host and port. */
  advertise?: { host: string; port: number };
  tls?: SiblingTlsConfig;
  /** Cluster token agents present to each other when not authenticated by a client certificate. */
  token?: string;
  tokenFile?: string;
  tokenSha256?: string;
  /** The static sibling list. */
  peers: SiblingPeerConfig[];
  /** A registry component (registry.redis) that lists the agents of each app. */
  registry?: string;
  /** Connections kept to each sibling; calls are multiplexed over them. */
  poolSize: number;
  connectTimeoutMs: number;
  /** The sibling port, per worker: a TLS handshake must complete within this after accept. */
  handshakeTimeoutMs: number;
  /** A connection with no authenticated Request this long after accept is closed. */
  signInTimeoutMs: number;
  /** Connections held at once; more are closed at accept. */
  maxConnections: number;
  /** Connections held at once from one source address; more are closed at accept, before any TLS work. */
  maxConnectionsPerAddress: number;
  /** Failed authentications after which a connection is closed. */
  maxAuthFailures: number;
}

/** `unix:/absolute/path`, or `host:port` with a port 1–65535 (IPv6 hosts in brackets). */
export const CHANNEL_ADDRESS_SOURCE = '^(unix:/.{1,106}|([A-Za-z0-9.-]{1,253}|\\[[0-9A-Fa-f:.]{2,45}\\]):([1-9][0-9]{0,4}))$';

export interface RawAppConfig {
  id: string;
  token?: string;
  tokenFile?: string;
  tokenSha256?: string;
  socket?: SocketConfig;
  allow: AppAllowConfig;
  quota: QuotaConfig;
  /** Overrides of the top-level `budgets` for this app. */
  budgets?: Partial<BudgetConfig>;
  /** The app's own server, where its invocations are delivered (docs/app-channel.md). */
  channel?: AppChannelConfig;
  /** A loopback TCP port for clients that cannot use a Unix socket, e.g. Dapr's SDKs (docs/dapr.md). */
  tcp?: AppTcpConfig;
  /** Messages pushed to the app's channel (docs/app-channel.md, "Push subscriptions"). */
  subscriptions?: AppSubscriptionConfig[];
}

/** A push subscription: messages of `topic` POSTed to `route` on the app's channel. */
export interface AppSubscriptionConfig {
  pubsubName: string;
  topic: string;
  route: string;
  deadLetterTopic?: string;
  maxDeliveryAttempts?: number;
}

/**
 * The app's HTTP API on a TCP port as well as on http.sock (docs/dapr.md): for clients that can only
 * dial host:port, such as Dapr's SDKs (DAPR_HTTP_PORT). No socket names the app there, so only the
 * port does: every request still needs the app's token.
 */
export interface AppTcpConfig {
  /** Loopback (default 127.0.0.1), or an address of this host's own interfaces (a pod IP). */
  host: string;
  httpPort: number;
}

/** An app's own server as a target of its invocations (docs/app-channel.md). */
export interface AppChannelConfig {
  /** `unix:/absolute/path` or `host:port` (usually 127.0.0.1:<port>; in Kubernetes the pod's IP). */
  address: string;
  protocol: 'http';
  /** Invocations delivered to the server at once per worker; more wait in the caller's governance. */
  maxConcurrency: number;
  /** At most this long per invocation, whatever the caller's budget. */
  timeoutMs: number;
  /**
   * Sent to the app's server as `dapr-api-token` on every request (Dapr's APP_API_TOKEN), so it can
   * refuse anyone else who reaches its address. Required for a TCP address other than loopback.
   */
  appToken?: string;
  /** `GET` this path; until it answers 2xx the channel takes no invocation. None: always taken. */
  healthPath?: string;
  healthIntervalMs: number;
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
  /**
   * Directories a local artifact source (a path or file:// URL) must lie in once symlinks and `..`
   * are resolved; absolute after loading. Empty (the default): local sources are refused.
   */
  allowedFileDirs: string[];
  /**
   * Hosts an http(s) download may be redirected to besides the source's own host; `*.example.com`
   * matches every subdomain of example.com. Empty (the default): only the source's own host.
   */
  allowedRedirectHosts: string[];
  /** Redirects followed per download attempt; 0 follows none. */
  maxRedirects: number;
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
  invoke: InvokeConfig;
  siblings: SiblingsConfig;
  apps: RawAppConfig[];
  components: ComponentConfig[];
  budgets: BudgetConfig;
}

/** App ids, agent ids and component names are DNS labels: the protocol's app id rule. */
const ID_PATTERN = APP_ID_SOURCE;

/** A host name or IPv4 address, optionally `*.`-prefixed (any subdomain), or a bracketed IPv6 address. */
const DNS_LABEL = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const REDIRECT_HOST_PATTERN = `^(\\*\\.)?(${DNS_LABEL}\\.)*${DNS_LABEL}$|^\\[[0-9A-Fa-f:.]+\\]$`;

/** The shape of an invoke policy; `withDefaults` fills in defaults (invoke.defaults) or not (targets). */
function invokePolicySchema(withDefaults: boolean): SchemaObject {
  const d = <T>(value: T): { default?: T } => (withDefaults ? { default: value } : {});
  const obj = (properties: Record<string, SchemaObject>): SchemaObject => ({
    type: 'object',
    additionalProperties: false,
    required: [],
    ...d({}),
    properties,
  });
  return obj({
    timeoutMs: { type: 'integer', minimum: 1, maximum: 3_600_000, ...d(30_000) },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 10, ...d(3) },
    retryBudgetPercent: { type: 'number', minimum: 0, maximum: 100, ...d(10) },
    retryBackoffMs: { type: 'integer', minimum: 0, maximum: 60_000, ...d(25) },
    hedge: obj({
      enabled: { type: 'boolean', ...d(true) },
      percentile: { type: 'number', minimum: 50, maximum: 99.9, ...d(95) },
      minDelayMs: { type: 'integer', minimum: 0, maximum: 60_000, ...d(5) },
      budgetPercent: { type: 'number', minimum: 0, maximum: 100, ...d(10) },
    }),
    outlier: obj({
      consecutiveFailures: { type: 'integer', minimum: 1, maximum: 1000, ...d(5) },
      ejectionMs: { type: 'integer', minimum: 100, maximum: 3_600_000, ...d(10_000) },
      maxEjectedPercent: { type: 'number', minimum: 0, maximum: 100, ...d(50) },
    }),
    breaker: obj({
      failureRatio: { type: 'number', exclusiveMinimum: 0, maximum: 1, ...d(0.5) },
      minRequests: { type: 'integer', minimum: 1, maximum: 100_000, ...d(20) },
      windowMs: { type: 'integer', minimum: 100, maximum: 3_600_000, ...d(10_000) },
      openMs: { type: 'integer', minimum: 100, maximum: 3_600_000, ...d(5_000) },
    }),
  });
}

/** Per-app budgets: with defaults at the top level, as overrides (no defaults) under an app. */
function budgetSchema(withDefaults: boolean): SchemaObject {
  const int = (min: number, max: number, dflt: number): SchemaObject => ({ type: 'integer', minimum: min, maximum: max, ...(withDefaults ? { default: dflt } : {}) });
  return {
    type: 'object',
    additionalProperties: false,
    required: [],
    ...(withDefaults ? { default: {} } : {}),
    properties: {
      connectionsPerSocket: int(1, 100_000, 128),
      idleTimeoutMs: int(1_000, 86_400_000, 300_000),
      streams: int(1, 100_000, 64),
      subscriptions: int(1, 100_000, 32),
      bufferedBytesPerStream: int(64 * 1024, 1024 ** 3, 8 * 1024 ** 2),
      bufferedBytes: int(64 * 1024, 4 * 1024 ** 3, 32 * 1024 ** 2),
      pendingCallbacks: int(1, 1_000_000, 1024),
    },
  };
}

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
        workerHeapMb: { type: 'integer', minimum: 0, maximum: 65536, default: 512 },
      },
    },
    budgets: budgetSchema(true),
    pubsub: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        ackDeadlineMs: { type: 'integer', minimum: 100, maximum: 3_600_000, default: 30_000 },
        maxDeliveryAttempts: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
        maxInFlightPerStream: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
        subscriptionIdleSeconds: { type: 'integer', minimum: 60, maximum: 31_536_000, default: 604_800 },
        pullSubscriptionIdleSeconds: { type: 'integer', minimum: 10, maximum: 31_536_000, default: 600 },
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
        allowedFileDirs: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true, default: [] },
        allowedRedirectHosts: { type: 'array', items: { type: 'string', pattern: REDIRECT_HOST_PATTERN }, uniqueItems: true, default: [] },
        maxRedirects: { type: 'integer', minimum: 0, maximum: 20, default: 5 },
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
    invoke: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        defaults: invokePolicySchema(true),
        targets: { type: 'object', default: {}, propertyNames: { pattern: ID_PATTERN }, additionalProperties: invokePolicySchema(false) },
        callbackConcurrency: { type: 'integer', minimum: 1, maximum: 100_000, default: 64 },
      },
    },
    siblings: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        agentId: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' },
        listen: {
          type: 'object',
          additionalProperties: false,
          required: ['port'],
          properties: {
            host: { type: 'string', minLength: 1, default: '127.0.0.1' },
            port: { type: 'integer', minimum: 0, maximum: 65535 },
          },
        },
        advertise: {
          type: 'object',
          additionalProperties: false,
          required: ['host', 'port'],
          properties: {
            host: { type: 'string', minLength: 1 },
            port: { type: 'integer', minimum: 1, maximum: 65535 },
          },
        },
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['certFile', 'keyFile'],
          properties: {
            certFile: { type: 'string', minLength: 1 },
            keyFile: { type: 'string', minLength: 1 },
            caFile: { type: 'string', minLength: 1 },
            requireClientCert: { type: 'boolean', default: false },
            serverName: { type: 'string', minLength: 1 },
          },
        },
        token: { type: 'string', minLength: MIN_NETWORK_TOKEN_CHARS },
        tokenFile: { type: 'string', minLength: 1 },
        tokenSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        peers: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['host', 'port'],
            properties: {
              name: { type: 'string', minLength: 1 },
              host: { type: 'string', minLength: 1 },
              port: { type: 'integer', minimum: 1, maximum: 65535 },
              apps: { type: 'array', items: { type: 'string', pattern: ID_PATTERN }, default: [] },
            },
          },
        },
        registry: { type: 'string', pattern: ID_PATTERN },
        poolSize: { type: 'integer', minimum: 1, maximum: 64, default: 2 },
        connectTimeoutMs: { type: 'integer', minimum: 50, maximum: 60_000, default: 1_000 },
        handshakeTimeoutMs: { type: 'integer', minimum: 100, maximum: 60_000, default: 5_000 },
        signInTimeoutMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 10_000 },
        maxConnections: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1_024 },
        maxConnectionsPerAddress: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 64 },
        maxAuthFailures: { type: 'integer', minimum: 1, maximum: 1_000, default: 3 },
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
              callers: { type: 'array', items: { type: 'string', minLength: 1 }, default: ['*'] },
            },
          },
          budgets: budgetSchema(false),
          subscriptions: {
            type: 'array',
            maxItems: 100,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['pubsubName', 'topic', 'route'],
              properties: {
                pubsubName: { type: 'string', minLength: 1 },
                topic: { type: 'string', minLength: 1 },
                route: { type: 'string', pattern: '^/?[\\x21-\\x7e]{1,1024}$' },
                deadLetterTopic: { type: 'string', minLength: 1 },
                maxDeliveryAttempts: { type: 'integer', minimum: 1, maximum: 1_000 },
              },
            },
          },
          tcp: {
            type: 'object',
            additionalProperties: false,
            required: ['httpPort'],
            properties: {
              host: { type: 'string', minLength: 1, maxLength: 253, default: '127.0.0.1' },
              httpPort: { type: 'integer', minimum: 1, maximum: 65_535 },
            },
          },
          channel: {
            type: 'object',
            additionalProperties: false,
            required: ['address'],
            properties: {
              address: { type: 'string', pattern: CHANNEL_ADDRESS_SOURCE },
              protocol: { type: 'string', enum: ['http'], default: 'http' },
              maxConcurrency: { type: 'integer', minimum: 1, maximum: 10_000, default: 64 },
              timeoutMs: { type: 'integer', minimum: 1, maximum: 2 ** 31 - 1, default: 60_000 },
              appToken: { type: 'string', minLength: 16, pattern: '^[\\x21-\\x7e]+$' },
              healthPath: { type: 'string', pattern: '^/[\\x21-\\x7e]{0,1023}$' },
              healthIntervalMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 5_000 },
            },
          },
          quota: {
            type: 'object',
            additionalProperties: false,
            default: {},
            required: [],
            properties: {
              maxInFlight: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 1024 },
              requestsPerSecond: { type: 'number', minimum: 0, default: 0 },
              bytesPerSecond: { type: 'number', minimum: 0, default: 0 },
              burstSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 60, default: 1 },
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
