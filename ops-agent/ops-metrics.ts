// The ops-agent's own metrics, served next to the workers' aggregated ones on admin.sock /metrics.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export class OpsMetrics {
  readonly registry = new Registry();
  readonly workerRestarts: Counter<'slot'>;
  readonly workerExits: Counter<'expected'>;
  readonly workers: Gauge<'state' | 'generation'>;
  readonly ipcFailures: Counter<'request'>;

  constructor() {
    const registers = [this.registry];
    this.workerRestarts = new Counter({
      name: 'hearth_ops_worker_restarts_total',
      help: 'Workers forked again after an unexpected exit',
      labelNames: ['slot'],
      registers,
    });
    this.workerExits = new Counter({
      name: 'hearth_ops_worker_exits_total',
      help: 'Worker exits; expected="false" for crashes',
      labelNames: ['expected'],
      registers,
    });
    this.workers = new Gauge({
      name: 'hearth_ops_workers',
      help: 'Worker processes by state and generation',
      labelNames: ['state', 'generation'],
      registers,
    });
    this.ipcFailures = new Counter({
      name: 'hearth_ops_ipc_failures_total',
      help: 'Status or metrics requests a worker did not answer in time',
      labelNames: ['request'],
      registers,
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'hearth_ops_' });
  }
}
