// Per-worker prom-client registry. The ops-agent asks every worker for its metrics over the
// hand-off protocol and aggregates them on <run>/admin.sock /metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Transport = 'grpc' | 'http' | 'wire';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'app' | 'api' | 'transport' | 'code'>;
  readonly latency: Histogram<'app' | 'api' | 'transport'>;
  readonly inFlight: Gauge<'app' | 'transport'>;
  readonly bytesIn: Counter<'app' | 'transport'>;
  readonly bytesOut: Counter<'app' | 'transport'>;
  readonly connections: Gauge<'app' | 'transport'>;
  readonly componentHealthy: Gauge<'component' | 'type'>;
  /** Invoke (agent/mesh/mesh-router.ts): one per routed call, by where it was finally answered. */
  readonly invokes: Counter<'target' | 'tier' | 'code'>;
  /** One per try sent to an endpoint (first tries, retries and hedges). */
  readonly invokeAttempts: Counter<'target' | 'tier' | 'code'>;
  readonly invokeRetries: Counter<'target'>;
  readonly invokeHedges: Counter<'target'>;
  readonly invokeEjections: Counter<'target' | 'tier'>;
  /** 0 closed, 2 open (the governor reports opening and closing). */
  readonly invokeBreaker: Gauge<'target'>;
  /** Forwarding connections this worker holds open (peer workers, sibling agents). */
  readonly meshConnections: Gauge<'kind'>;
  /** Refusals because an app was at one of its budgets (agent/apps/app-budgets.ts). */
  readonly budgetRefusals: Counter<'app' | 'budget'>;
  /** Sibling port connections turned away, by reason (agent/mesh/sibling-admission.ts). */
  readonly siblingRefused: Counter<'reason'>;

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'hearth_requests_total',
      help: 'App-facing requests by app, API, transport and result code (OK or HEARTH_ERR_*)',
      labelNames: ['app', 'api', 'transport', 'code'],
      registers,
    });
    this.latency = new Histogram({
      name: 'hearth_request_duration_seconds',
      help: 'App-facing request latency',
      labelNames: ['app', 'api', 'transport'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'hearth_requests_in_flight',
      help: 'Requests being served',
      labelNames: ['app', 'transport'],
      registers,
    });
    this.bytesIn = new Counter({
      name: 'hearth_request_bytes_total',
      help: 'Request payload bytes received',
      labelNames: ['app', 'transport'],
      registers,
    });
    this.bytesOut = new Counter({
      name: 'hearth_response_bytes_total',
      help: 'Response payload bytes sent',
      labelNames: ['app', 'transport'],
      registers,
    });
    this.connections = new Gauge({
      name: 'hearth_connections',
      help: 'Open app connections',
      labelNames: ['app', 'transport'],
      registers,
    });
    this.componentHealthy = new Gauge({
      name: 'hearth_component_healthy',
      help: '1 when the component is healthy',
      labelNames: ['component', 'type'],
      registers,
    });
    this.invokes = new Counter({
      name: 'hearth_invoke_total',
      help: 'Routed invocations by target app, tier that answered (local, worker, sibling, none) and result code',
      labelNames: ['target', 'tier', 'code'],
      registers,
    });
    this.invokeAttempts = new Counter({
      name: 'hearth_invoke_attempts_total',
      help: 'Tries sent to an endpoint (first tries, retries, hedges) by target, tier and result code',
      labelNames: ['target', 'tier', 'code'],
      registers,
    });
    this.invokeRetries = new Counter({ name: 'hearth_invoke_retries_total', help: 'Invoke retries by target', labelNames: ['target'], registers });
    this.invokeHedges = new Counter({ name: 'hearth_invoke_hedges_total', help: 'Hedged (backup) invoke tries by target', labelNames: ['target'], registers });
    this.invokeEjections = new Counter({
      name: 'hearth_invoke_ejections_total',
      help: 'Endpoints ejected as outliers, by target and tier',
      labelNames: ['target', 'tier'],
      registers,
    });
    this.invokeBreaker = new Gauge({
      name: 'hearth_invoke_breaker_state',
      help: 'Circuit breaker per target: 0 closed, 2 open',
      labelNames: ['target'],
      registers,
    });
    this.meshConnections = new Gauge({
      name: 'hearth_mesh_connections',
      help: 'Open forwarding connections by kind (peer worker, sibling agent)',
      labelNames: ['kind'],
      registers,
    });
    this.budgetRefusals = new Counter({
      name: 'hearth_budget_refusals_total',
      help: 'Calls, connections and streams refused because the app was at one of its budgets, by app and budget',
      labelNames: ['app', 'budget'],
      registers,
    });
    this.siblingRefused = new Counter({
      name: 'hearth_sibling_refused_total',
      help: 'Sibling port connections refused at accept (max_connections, per_address) or closed before or for want of authentication (handshake_timeout, handshake_failed, sign_in_timeout, auth_failures)',
      labelNames: ['reason'],
      registers,
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'hearth_worker_' });
  }

  /** Wraps one request: counts it, times it and tracks in-flight. Returns the finisher. */
  begin(app: string, api: string, transport: Transport, bytesIn = 0): (code: string, bytesOut?: number) => void {
    const started = process.hrtime.bigint();
    this.inFlight.inc({ app, transport });
    if (bytesIn > 0) this.bytesIn.inc({ app, transport }, bytesIn);
    let done = false;
    return (code, bytesOut = 0) => {
      if (done) return;
      done = true;
      this.inFlight.dec({ app, transport });
      this.requests.inc({ app, api, transport, code });
      this.latency.observe({ app, api, transport }, Number(process.hrtime.bigint() - started) / 1e9);
      if (bytesOut > 0) this.bytesOut.inc({ app, transport }, bytesOut);
    };
  }
}
