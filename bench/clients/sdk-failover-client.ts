// App a's outbound side for the failover row: the SDK's own failover transport (sdk/failover/)
// over the SDK's wire transport — the local agent's wire.sock first, host 2's sibling TLS port as
// the one sibling, app a's id and token on it — so the row times the SDK's own detection and
// switch. Calls are state gets, idempotent and deadline-bounded, as failover may replay them.
import { createFailoverTransport, type FailoverTransport } from '../../sdk/failover/failover-transport.js';
import type { FailoverEvent } from '../../sdk/failover/failover-events.js';
import { WireTransport } from '../../sdk/wire/wire-transport.js';

export interface FailoverAppOptions {
  appId: string;
  token: string;
  /** The local agent's wire.sock for this app. */
  localSocket: string;
  sibling: { name: string; host: string; port: number };
  /** PEM of the CA that signs the sibling's certificate. */
  caPem: string;
  servername: string;
}

export interface FailoverApp {
  /** One idempotent state get; rejects with the SDK's HearthClientError. */
  get(key: string, deadlineMs: number): Promise<void>;
  onFailover(listener: (event: FailoverEvent) => void): void;
  close(): Promise<void>;
}

const GET = 'hearth.runtime.v1.State/GetState';

export function openFailoverApp(options: FailoverAppOptions): FailoverApp {
  const transport: FailoverTransport = createFailoverTransport({
    local: () => new WireTransport({ endpoint: { path: options.localSocket }, token: options.token, connectTimeoutMs: 500 }),
    siblings: [options.sibling],
    connectSibling: (endpoint) => new WireTransport({
      endpoint: { host: endpoint.host, port: endpoint.port, tls: { ca: options.caPem, servername: options.servername } },
      token: options.token,
      caller: options.appId,
      name: `sibling:${endpoint.name}`,
      connectTimeoutMs: 2_000,
    }),
  });
  return {
    async get(key, deadlineMs) {
      await transport.unary(GET, { storeName: 'default', key }, { idempotent: true, deadlineMs });
    },
    onFailover(listener) {
      transport.on('failover', listener);
    },
    close: () => transport.close(),
  };
}
