// App a's outbound side for the failover row: the SDK's own client (createClient, sdk/client.ts)
// with host 2's sibling TLS port as its one sibling, so the row times the SDK's failover
// (sdk/failover/) exactly as an app gets it: wire.sock to the local agent, the failover transport
// around it, and the sibling reached over TLS with app a's id and token. Calls are state gets,
// which the SDK marks idempotent, with a deadline, so failover may replay them.
import { createClient, type FailoverEvent } from '@hearth/sdk';

export interface FailoverAppOptions {
  appId: string;
  token: string;
  /** The local agent's run dir (its wire.sock for the app is under apps/<appId>/). */
  runDir: string;
  sibling: { name: string; host: string; port: number };
  /** PEM of the CA that signs the sibling's certificate. */
  caPem: string;
  servername: string;
}

export interface FailoverApp {
  /** One state get; rejects with the SDK's HearthClientError. */
  get(key: string, timeoutMs: number): Promise<void>;
  onFailover(listener: (event: FailoverEvent) => void): void;
  close(): Promise<void>;
}

export function openFailoverApp(options: FailoverAppOptions): FailoverApp {
  const client = createClient({
    appId: options.appId,
    token: options.token,
    runDir: options.runDir,
    transport: 'wire',
    siblings: [options.sibling],
    siblingTls: { ca: options.caPem, servername: options.servername },
    // The bench's own environment must not configure the app.
    env: {},
  });
  const failover = client.failover;
  if (failover === undefined) throw new Error('createClient with a sibling returned no failover transport');
  return {
    async get(key, timeoutMs) {
      await client.state.get('default', key, { timeoutMs });
    },
    onFailover(listener) {
      failover.on('failover', listener);
    },
    close: () => client.close(),
  };
}
