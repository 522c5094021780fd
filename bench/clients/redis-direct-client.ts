// Baseline for the Redis state rows: the app talks to redis-server itself with ioredis, one client
// (one TCP connection) per bench connection, issuing exactly what Hearth's state.redis issues for
// the same call — a get is one HMGET of the item's hash (data, version, contentType, expiresAt), a
// save one EVALSHA of the store's own set script (ETag check, new version, HSET), imported from
// agent/ rather than copied so the two cannot drift, on keys laid out as that store lays out an
// app's keys (agent/config/redis-key-spaces.ts), so both sides hash and compare keys as long. The difference between the rows is then
// Hearth's own cost (gRPC hop, auth, namespacing), not a different amount of Redis work. The
// client options mirror Hearth's shared connection (no offline queue, one retry).
import { Redis } from 'ioredis';
import { redisKeyPlan } from '../../agent/config/redis-key-spaces.js';
import { defineScripts, STATE_SCRIPTS, type StateScriptClient } from '../../agent/components/redis/redis-scripts.js';
import { errorOf, inBatches, once, type BenchClient, type Done } from './bench-client.js';
import { bufferOfLength } from './hearth-grpc-client.js';
import type { StateOp } from '../load/load-protocol.js';

/** Distinct save keys, reused round-robin (as the Hearth rows do) so Redis does not grow. */
const SAVE_KEYS = 1024;
/** Where the Hearth rows' store `redis` keeps the items of an app: here the app `direct`. */
const ITEM_PREFIX = `${redisKeyPlan({ name: 'redis', type: 'state.redis', shared: false, metadata: {} }).prefix}direct||`;
const GET_KEY = `${ITEM_PREFIX}bench-direct-get`;
const SAVE_KEY_PREFIX = `${ITEM_PREFIX}bench-direct-save-`;
/** The fields state.redis reads, in its order. */
const ITEM_FIELDS = ['data', 'version', 'contentType', 'expiresAt'] as const;

export interface RedisDirectTarget {
  op: StateOp;
  url: string;
  payloadBytes: number;
}

type ScriptedRedis = Redis & StateScriptClient;

async function connect(url: string): Promise<ScriptedRedis> {
  const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 10_000 });
  // Errors reach the caller through the rejected command; without a listener ioredis logs them.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw errorOf(err);
  }
  defineScripts(client, { hearthStateSet: STATE_SCRIPTS.hearthStateSet });
  return client as ScriptedRedis;
}

/** A last-write save without TTL or content type, as Hearth's SaveState of one item makes it. */
async function save(client: ScriptedRedis, key: string, value: Buffer): Promise<string | null> {
  const version = await client.hearthStateSet(key, value, '', '0', 0, '');
  return typeof version === 'string' ? null : 'the set script refused the write';
}

/** One request of the row: resolves to an error message when the reply is not what it should be. */
type Request = (client: ScriptedRedis, n: number) => Promise<string | null>;

function request(target: RedisDirectTarget): Request {
  const value = Buffer.alloc(target.payloadBytes, 0x61);
  if (target.op === 'get') {
    return async (client) => {
      const [data] = await client.hmgetBuffer(GET_KEY, ...ITEM_FIELDS);
      return data === null || data === undefined ? 'key not found' : bufferOfLength(data, target.payloadBytes);
    };
  }
  return (client, n) => save(client, `${SAVE_KEY_PREFIX}${n % SAVE_KEYS}`, value);
}

export async function openRedisDirectClient(target: RedisDirectTarget, connections: number): Promise<BenchClient> {
  const clients: ScriptedRedis[] = [];
  try {
    await inBatches(connections, 50, async (i) => {
      clients[i] = await connect(target.url);
    });
    const seeder = clients[0];
    if (seeder === undefined) throw new Error('no Redis connection');
    if (target.op === 'get') {
      const problem = await save(seeder, GET_KEY, Buffer.alloc(target.payloadBytes, 0x61));
      if (problem !== null) throw new Error(problem);
    }
  } catch (err) {
    for (const client of clients) client?.disconnect();
    throw err;
  }
  const send = request(target);
  let n = 0;
  return {
    connections,
    send(connection: number, done: Done) {
      const client = clients[connection % connections];
      if (client === undefined) {
        done(new Error(`no connection ${connection}`));
        return;
      }
      const finish = once(done);
      send(client, n++).then((problem) => finish(problem === null ? null : new Error(problem)), (err: unknown) => finish(errorOf(err)));
    },
    async close() {
      for (const client of clients) client.disconnect();
    },
  };
}
