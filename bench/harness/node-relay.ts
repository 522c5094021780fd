// Parent side of the Node relay anchor (servers/node-relay.ts): a throw-away CA and certificate
// (test/support/tls-certs.ts), the relay hop on a free loopback port in front of the frame echo,
// and the entry on a Unix socket, each in its own forked process. Its CPU/RSS column covers all
// three, as the Hearth row's covers both agents and the callee.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RelayStart } from '../servers/node-relay-process.js';
import { freePort } from '../../test/support/free-port.js';
import { makeTlsFiles } from '../../test/support/tls-certs.js';
import { forkServer, type BaselineProcess, type ForkedServer } from './baseline-process.js';
import type { CleanupStack } from './cleanup-stack.js';
import { together } from './two-agents.js';
import type { ServerUnderTest } from './usage-monitor.js';

export interface NodeRelay {
  /** The entry's HTTP socket. */
  readonly socketPath: string;
  /** Entry, relay and the frame echo behind them. */
  readonly server: ServerUnderTest;
  stop(): Promise<void>;
}

const ENTRY = 'node-relay-process.js';

export async function startNodeRelay(cleanup: CleanupStack, frameEcho: BaselineProcess): Promise<NodeRelay> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hb-relay-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  const unregisterDir = cleanup.add('Node relay certificates', async () => removeDir());
  const started: ForkedServer[] = [];
  const stop = async (): Promise<void> => {
    for (const server of [...started].reverse()) await server.stop();
    unregisterDir();
    removeDir();
  };
  try {
    const { caFile, certFile, keyFile } = await makeTlsFiles(dir);
    const port = await freePort();
    const socketPath = path.join(dir, 'entry.sock');
    const relay: RelayStart = { type: 'start', role: 'relay', port, certFile, keyFile, echoSocket: frameEcho.socketPath };
    const hop = await forkServer(ENTRY, relay, 'Node relay hop', cleanup);
    started.push(hop);
    const entry = await forkServer(ENTRY, { type: 'start', role: 'entry', socketPath, port, caFile } satisfies RelayStart, 'Node relay entry', cleanup);
    started.push(entry);
    return { socketPath, server: together('Node entry + relay + frame echo', [entry, hop, frameEcho]), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
