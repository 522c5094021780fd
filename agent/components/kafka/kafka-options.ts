// pubsub.kafka metadata: every key validated up front (HEARTH_ERR_CONFIG_INVALID naming the key),
// unknown keys rejected so a typo is not silently ignored, and the kafkajs client configuration
// built from the result. Retries are deliberately short: an app call must fail fast while Kafka is
// down, and the component's own loops (consumer restarts, health probes) do the long waiting.
import type { ConnectionOptions } from 'node:tls';
import type { KafkaConfig, RetryOptions, SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import type { ComponentContext } from '../component.js';
import { MetadataReader } from '../component-metadata.js';
import { kafkaLogCreator, kafkaLogLevel } from './kafka-log.js';

export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Idempotent producer (needs acks from all in-sync replicas and one request in flight). */
  readonly idempotent: boolean;
  /** -1: all in-sync replicas, 1: the leader, 0: none. */
  readonly acks: -1 | 0 | 1;
  /** Prepended to every Kafka topic this component touches (Hearth topic names stay unprefixed). */
  readonly topicPrefix: string;
  readonly allowAutoTopicCreation: boolean;
  readonly ssl: ConnectionOptions | undefined;
  readonly sasl: SASLOptions | undefined;
  readonly connectionTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly fetchMaxWaitMs: number;
  readonly publishTimeoutMs: number;
  readonly subscribeTimeoutMs: number;
  readonly closeTimeoutMs: number;
}

const KEYS = new Set([
  'brokers',
  'clientId',
  'idempotent',
  'acks',
  'topicPrefix',
  'allowAutoTopicCreation',
  'ssl',
  'tlsCaFile',
  'tlsCertFile',
  'tlsKeyFile',
  'tlsRejectUnauthorized',
  'saslMechanism',
  'saslUsername',
  'saslPassword',
  'connectionTimeoutMs',
  'requestTimeoutMs',
  'sessionTimeoutMs',
  'heartbeatIntervalMs',
  'fetchMaxWaitMs',
  'publishTimeoutMs',
  'subscribeTimeoutMs',
  'closeTimeoutMs',
]);

const TOPIC_PREFIX = /^[A-Za-z0-9._-]*$/;

function parseBrokers(r: MetadataReader): string[] {
  const v = r.raw('brokers');
  if (v === undefined) throw r.bad('brokers', 'is required (host:port, comma-separated or a list)');
  const items: unknown[] = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : Array.isArray(v) ? v : [v];
  if (items.length === 0) throw r.bad('brokers', 'is required (host:port, comma-separated or a list)');
  return items.map((item, i) => {
    if (typeof item !== 'string' || !/^\[?[^\s\]]+?\]?:\d{1,5}$/.test(item.trim())) {
      throw r.bad(`brokers[${i}]`, `must be host:port (got ${JSON.stringify(item)})`);
    }
    return item.trim();
  });
}

function parseAcks(r: MetadataReader): -1 | 0 | 1 {
  const v = r.raw('acks');
  if (v === undefined || v === 'all' || v === -1 || v === '-1') return -1;
  if (v === 1 || v === '1') return 1;
  if (v === 0 || v === '0') return 0;
  throw r.bad('acks', 'must be all (-1), 1 or 0');
}

function parseSasl(r: MetadataReader): SASLOptions | undefined {
  const mechanism = r.string('saslMechanism')?.toLowerCase();
  const username = r.string('saslUsername');
  const password = r.string('saslPassword');
  if (mechanism === undefined) {
    if (username !== undefined || password !== undefined) throw r.bad('saslMechanism', 'is required with saslUsername/saslPassword');
    return undefined;
  }
  if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') {
    throw r.bad('saslMechanism', 'must be plain, scram-sha-256 or scram-sha-512');
  }
  if (username === undefined) throw r.bad('saslUsername', `is required with saslMechanism ${mechanism}`);
  if (password === undefined) throw r.bad('saslPassword', `is required with saslMechanism ${mechanism} (use \${ENV} in the config)`);
  return { mechanism, username, password };
}

function parseSsl(r: MetadataReader): ConnectionOptions | undefined {
  const fileKeys = ['tlsCaFile', 'tlsCertFile', 'tlsKeyFile'];
  const on = r.bool('ssl', fileKeys.some((k) => r.raw(k) !== undefined));
  const ca = r.file('tlsCaFile');
  const cert = r.file('tlsCertFile');
  const key = r.file('tlsKeyFile');
  const rejectUnauthorized = r.bool('tlsRejectUnauthorized', true);
  if (!on) return undefined;
  return { ca, cert, key, rejectUnauthorized };
}

/** Validates a pubsub.kafka component's metadata; throws HEARTH_ERR_CONFIG_INVALID naming the key. */
export function kafkaOptions(ctx: ComponentContext): KafkaOptions {
  const r = new MetadataReader(ctx);
  for (const key of Object.keys(ctx.config.metadata)) {
    if (!KEYS.has(key)) throw r.bad(key, `is not a pubsub.kafka option (known: ${[...KEYS].join(', ')})`);
  }
  const idempotent = r.bool('idempotent', true);
  const acks = parseAcks(r);
  if (idempotent && acks !== -1) throw r.bad('acks', 'must be all (-1) while idempotent is true');
  const topicPrefix = r.string('topicPrefix') ?? '';
  if (!TOPIC_PREFIX.test(topicPrefix)) throw r.bad('topicPrefix', 'may only contain letters, digits, ".", "_" and "-"');
  const sessionTimeoutMs = r.int('sessionTimeoutMs', 30_000);
  const heartbeatIntervalMs = r.int('heartbeatIntervalMs', 3000);
  const fetchMaxWaitMs = r.int('fetchMaxWaitMs', 1000);
  if (heartbeatIntervalMs >= sessionTimeoutMs) throw r.bad('heartbeatIntervalMs', 'must be lower than sessionTimeoutMs');
  // kafkajs heartbeats between fetches: a fetch that waits longer than the session loses the group.
  if (fetchMaxWaitMs >= sessionTimeoutMs) throw r.bad('fetchMaxWaitMs', 'must be lower than sessionTimeoutMs');
  const clientId = r.string('clientId') ?? 'hearth';
  return {
    brokers: parseBrokers(r),
    clientId,
    idempotent,
    acks,
    topicPrefix,
    allowAutoTopicCreation: r.bool('allowAutoTopicCreation', true),
    ssl: parseSsl(r),
    sasl: parseSasl(r),
    connectionTimeoutMs: r.int('connectionTimeoutMs', 3000),
    requestTimeoutMs: r.int('requestTimeoutMs', 30_000),
    sessionTimeoutMs,
    heartbeatIntervalMs,
    fetchMaxWaitMs,
    publishTimeoutMs: r.int('publishTimeoutMs', 5000),
    subscribeTimeoutMs: r.int('subscribeTimeoutMs', 30_000),
    closeTimeoutMs: r.int('closeTimeoutMs', 5000),
  };
}

/** Short, bounded retries: callers fail fast; the component's loops retry for as long as it takes. */
export const CLIENT_RETRY: RetryOptions = { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 };

export function kafkaClientConfig(o: KafkaOptions, logger: Logger): KafkaConfig {
  return {
    brokers: [...o.brokers],
    clientId: o.clientId,
    ssl: o.ssl,
    sasl: o.sasl,
    connectionTimeout: o.connectionTimeoutMs,
    requestTimeout: o.requestTimeoutMs,
    retry: CLIENT_RETRY,
    logLevel: kafkaLogLevel(logger),
    logCreator: kafkaLogCreator(logger),
  };
}
