// Anchors (issue #13): one HTTP/1.1 call of 1 KB from an app on a Unix socket to an echo and back,
// four ways in the same run, each at 300/s and at 1,000/s (the rows' own rates, whatever `--rate`
// says), open loop over the run's connections:
//   anchor-direct   a bare node:http echo (servers/http-echo-server.ts), the floor of the path;
//   anchor-haproxy  two HAProxy processes in front of that echo, TLS between them
//                   (harness/haproxy-chain.ts); skipped, with the reason, when haproxy is missing;
//   anchor-relay    the Node relay: entry → one TLS connection → relay → frame echo, Hearth's framing
//                   without its header (servers/node-relay.ts), the Node floor for Hearth's path;
//   anchor-hearth   Hearth: app a's http.sock on host 1 → POST /v1.0/invoke/b/method/echo → agent 1 →
//                   sibling TLS → agent 2 → app b's callback stream (the invoke rows' mesh).
// The CPU/RSS column of each row covers every process of its path (the echo or callee included),
// so CPU per call compares. Warm-up is the run's (`--warmup`, 5 s by default; 1 s in later rounds):
// enough for the JIT of every Node process on the path to settle before the measured window.
// Budgets (report/budgets.ts): Hearth's CPU per call ≤ 1.5× the relay's; its added p50 over direct
// ≤ the relay's + 0.15 ms at 300/s; its added p99 ≤ the relay's + 1 ms at 1,000/s.
import { ANCHOR_PATHS, ANCHOR_RATES, anchorRowId, type AnchorPath } from '../report/anchor-figures.js';
import type { SkippedRow } from '../report/report-types.js';
import { HAPROXY_MISSING, haproxyMissing } from '../harness/haproxy-chain.js';
import { MESH_APPS, together } from '../harness/two-agents.js';
import type { ServerUnderTest } from '../harness/usage-monitor.js';
import type { TargetSpec } from '../load/load-protocol.js';
import type { RateRowSpec, Scenario } from './scenario.js';
import { PROTO_ROOT } from './state-grpc.js';

const SCENARIO: Record<AnchorPath, string> = {
  direct: 'anchor: node:http echo 1 KB, direct',
  haproxy: 'anchor: 2 HAProxy hops (TLS between them) → node:http echo 1 KB',
  relay: 'anchor: Node relay (entry → TLS → relay → frame echo) 1 KB',
  hearth: 'anchor: Hearth HTTP invoke a on host 1 → b on host 2 (sibling TLS) 1 KB',
};

export const anchorsScenario: Scenario = {
  kind: 'rate',
  id: 'anchors',
  title: 'anchors: an HTTP/1.1 echo direct, through 2 HAProxy, through a Node relay and through Hearth, at 300/s and 1,000/s',
  requires: [],
  async rows(ctx) {
    const payloadBytes = ctx.settings.payloadBytes;
    const echo = await ctx.env.baseline('http-echo');
    const relay = await ctx.env.nodeRelay();
    const missing = haproxyMissing();
    const haproxy = missing === null ? await ctx.env.haproxyChain() : null;
    const mesh = await ctx.env.invokeMesh();
    const { host1, host2 } = mesh.agents;
    const caller = MESH_APPS.caller;
    const http = (socketPath: string): TargetSpec => ({ kind: 'http-echo', socketPath, payloadBytes });
    const paths: Record<AnchorPath, { server: ServerUnderTest; target: TargetSpec } | { skipped: string }> = {
      direct: { server: echo, target: http(echo.socketPath) },
      haproxy: haproxy === null
        ? { skipped: missing ?? HAPROXY_MISSING }
        : { server: together('2 HAProxy + node:http echo', [haproxy.server, echo]), target: http(haproxy.socketPath) },
      relay: { server: relay.server, target: http(relay.socketPath) },
      hearth: {
        server: together(`2 agents + app b (${mesh.calleeTransport})`, [host1, host2, mesh.remoteCallee]),
        target: {
          kind: 'hearth-invoke', transport: 'http', appId: MESH_APPS.remote.id, socketPath: host1.socket(caller.id, 'http'),
          token: caller.token, protoRoot: PROTO_ROOT, payloadBytes,
        },
      },
    };
    return ANCHOR_RATES.flatMap((rate) => ANCHOR_PATHS.map((path): RateRowSpec | SkippedRow => {
      const meta = {
        id: anchorRowId(path, rate),
        scenario: `${SCENARIO[path]}, ${rate}/s`,
        transport: 'HTTP',
        baselineId: path === 'direct' ? null : anchorRowId('direct', rate),
      };
      const p = paths[path];
      if ('skipped' in p) return { kind: 'skipped', id: meta.id, scenario: meta.scenario, transport: meta.transport, targetRate: rate, reason: p.skipped };
      return { ...p, meta, rate };
    }));
  },
};
