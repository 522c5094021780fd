// State get and save of 1 KB on Redis (issue #4): the app's own ioredis against the bench's
// redis-server, issuing the very commands state.redis issues (`redis-direct`, the baseline; see
// clients/redis-direct-client.ts), and the same calls through Hearth — gRPC on grpc.sock to the
// state store `redis` (state.redis) on that same server (`state-redis`). The Hearth rows sample
// redis-server too, so the CPU columns of the two differ by Hearth's own cost.
// Budget: added p50 ≤ 0.1 ms (report/budgets.ts).
import { alongside } from '../harness/bench-backends.js';
import type { StateOp } from '../load/load-protocol.js';
import type { RateRowSpec, Scenario } from './scenario.js';
import { PROTO_ROOT } from './state-grpc.js';

const OPS: readonly StateOp[] = ['get', 'save'];

export const redisDirectScenario: Scenario = {
  kind: 'rate',
  id: 'redis-direct',
  title: 'baseline: state get/save with ioredis straight to redis-server',
  requires: [],
  async rows(ctx) {
    const redis = await ctx.env.redis();
    return OPS.map((op): RateRowSpec => ({
      server: redis,
      target: { kind: 'redis-direct', op, url: redis.url, payloadBytes: ctx.settings.payloadBytes },
      meta: {
        id: `redis-direct-${op}`,
        scenario: `baseline: ioredis ${op === 'get' ? 'HMGET' : 'EVALSHA of the set script'} 1 KB, direct to redis-server`,
        transport: 'TCP',
        baselineId: null,
      },
    }));
  },
};

export const stateRedisScenario: Scenario = {
  kind: 'rate',
  id: 'state-redis',
  title: 'Hearth state get/save on Redis vs direct ioredis (same redis-server)',
  requires: ['redis-direct'],
  async rows(ctx) {
    const [hearth, redis] = await Promise.all([ctx.env.hearthBackends(), ctx.env.redis()]);
    return OPS.map((op): RateRowSpec => ({
      server: alongside(hearth, redis),
      target: {
        kind: 'hearth-grpc', op, storeName: 'redis', socketPath: hearth.grpcSocket, protoRoot: PROTO_ROOT, token: hearth.token,
        payloadBytes: ctx.settings.payloadBytes,
      },
      meta: { id: `hearth-redis-${op}`, scenario: `Hearth state ${op} 1 KB (Redis)`, transport: 'gRPC', baselineId: `redis-direct-${op}` },
    }));
  },
};
