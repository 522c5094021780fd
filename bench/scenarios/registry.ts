// Every scenario, in run order. A later issue adds its scenario as one file in this folder and one
// line here (explicit registration; no directory scanning). Baselines come before the rows that
// subtract them.
import { anchorsScenario } from './anchors.js';
import { blastRadiusScenario } from './blast-radius.js';
import { fastifyEchoScenario } from './fastify-echo.js';
import { failoverScenario } from './failover.js';
import { floorScenario } from './floor.js';
import { grpcEchoScenario } from './grpc-echo.js';
import { idleConnectionsScenario } from './idle-connections.js';
import { invokeScenario } from './invoke.js';
import { maxThroughputScenario } from './max-throughput.js';
import { memoryFloorScenario } from './memory-floor.js';
import { pendingScenarios } from './pending.js';
import { kafkaDirectScenario, publishKafkaScenario } from './publish-kafka.js';
import type { Scenario } from './scenario.js';
import { stateGrpcScenarios } from './state-grpc.js';
import { stateHttpScenarios } from './state-http.js';
import { stateWireScenario } from './state-wire.js';
import { redisDirectScenario, stateRedisScenario } from './state-redis.js';
import { upgradeUnderLoadScenario } from './upgrade-under-load.js';

export const scenarios: readonly Scenario[] = [
  floorScenario,
  grpcEchoScenario,
  fastifyEchoScenario,
  ...stateGrpcScenarios,
  ...stateHttpScenarios,
  stateWireScenario,
  redisDirectScenario,
  stateRedisScenario,
  kafkaDirectScenario,
  publishKafkaScenario,
  invokeScenario,
  anchorsScenario,
  maxThroughputScenario,
  idleConnectionsScenario,
  memoryFloorScenario,
  upgradeUnderLoadScenario,
  blastRadiusScenario,
  failoverScenario,
  ...pendingScenarios,
];

/** The scenarios to run for `--only` (null: all), with the baselines they require, in run order. */
export function selectScenarios(only: string[] | null): Scenario[] {
  if (only === null) return [...scenarios];
  const known = new Set(scenarios.map((s) => s.id));
  const unknown = only.filter((id) => !known.has(id));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  const wanted = new Set<string>();
  const add = (id: string): void => {
    if (wanted.has(id)) return;
    wanted.add(id);
    for (const required of scenarios.find((s) => s.id === id)?.requires ?? []) add(required);
  };
  for (const id of only) add(id);
  return scenarios.filter((s) => wanted.has(s.id));
}
