// Two-agent invoke (issue #5): app a on host 1 invokes method `echo` of app b, whose only
// instance (a callee app on an AppCallback stream, servers/callback-echo-app.ts) is on host 2, so
// every call goes app → agent 1 → TLS sibling port → agent 2 → app b and back. 1 KB, open loop at
// the target rate over 16 connections, caller on the wire transport and on gRPC. The "added"
// columns subtract a direct app-to-app call in the same run: for wire, the raw socket echo (the
// floor); for gRPC, the bare grpc-js echo. A third row invokes app c, whose instance is on host 1
// (the local short-circuit: no sibling hop). A fourth (issue #14) invokes app d, whose instance is
// its own HTTP server on host 2 (a bare node:http echo), reached through host 2's app channel: the
// same path as b's with a plain HTTP service instead of a callback stream at the end. Budget:
// added p50 ≤ 0.2 ms, p99 ≤ 1 ms (wire row). CPU/RSS columns cover both agents and the callee.
import { MESH_APPS, together } from '../harness/two-agents.js';
import type { Scenario } from './scenario.js';
import { PROTO_ROOT } from './state-grpc.js';

export const invokeScenario: Scenario = {
  kind: 'rate',
  id: 'invoke',
  title: 'two-agent invoke (a on host 1 → b on host 2) over wire and gRPC vs direct app-to-app, and local short-circuit',
  requires: ['floor', 'grpc-echo'],
  async rows(ctx) {
    const mesh = await ctx.env.invokeMesh();
    const { host1, host2 } = mesh.agents;
    const caller = MESH_APPS.caller;
    const payloadBytes = ctx.settings.payloadBytes;
    const callee = `callee on ${mesh.calleeTransport}`;
    const remote = together(`2 agents + app b`, [host1, host2, mesh.remoteCallee]);
    const local = together(`2 agents + app c`, [host1, host2, mesh.localCallee]);
    const channel = together(`2 agents + app d's HTTP server`, [host1, host2, mesh.channelServer]);
    return [
      {
        server: remote,
        target: { kind: 'hearth-invoke', transport: 'wire', appId: MESH_APPS.remote.id, socketPath: host1.socket(caller.id, 'wire'), token: caller.token, protoRoot: PROTO_ROOT, payloadBytes },
        meta: { id: 'invoke-wire', scenario: `invoke 1 KB, a on host 1 → b on host 2 (sibling TLS; ${callee})`, transport: 'wire', baselineId: 'floor' },
      },
      {
        server: remote,
        target: { kind: 'hearth-invoke', transport: 'grpc', appId: MESH_APPS.remote.id, socketPath: host1.socket(caller.id, 'grpc'), token: caller.token, protoRoot: PROTO_ROOT, payloadBytes },
        meta: { id: 'invoke-grpc', scenario: `invoke 1 KB, a on host 1 → b on host 2 (sibling TLS; ${callee})`, transport: 'gRPC', baselineId: 'grpc-echo' },
      },
      {
        server: channel,
        target: { kind: 'hearth-invoke', transport: 'wire', appId: MESH_APPS.channel.id, socketPath: host1.socket(caller.id, 'wire'), token: caller.token, protoRoot: PROTO_ROOT, payloadBytes },
        meta: { id: 'invoke-wire-channel', scenario: 'invoke 1 KB, a on host 1 → d on host 2 (sibling TLS; d\'s own HTTP server through its app channel)', transport: 'wire', baselineId: 'floor' },
      },
      {
        server: local,
        target: { kind: 'hearth-invoke', transport: 'wire', appId: MESH_APPS.local.id, socketPath: host1.socket(caller.id, 'wire'), token: caller.token, protoRoot: PROTO_ROOT, payloadBytes },
        meta: { id: 'invoke-wire-local', scenario: `invoke 1 KB, a → c both on host 1 (local short-circuit; ${callee})`, transport: 'wire', baselineId: 'floor' },
      },
    ];
  },
};
