// Two "hosts" on one machine: two real `hearth start` processes (startHearth), each with its own
// run and state dirs, a loopback sibling port (TLS, cluster token; ports picked free up front) and
// the other as its static sibling. Apps `caller`, `callee` and `stranger` are declared on both with
// the same tokens (siblings share their configuration); the callee accepts calls from `caller`
// only. Certificates are made with openssl into a temp dir removed by close().
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import { freePort } from '../support/free-port.js';
import { makeTlsFiles, type TlsFiles } from '../support/tls-certs.js';

// Tokens used on the sibling port have at least 32 characters (MIN_NETWORK_TOKEN_CHARS).
export const CALLER_TOKEN = 'caller-token-0123456789abcdef0123456789';
export const CALLEE_TOKEN = 'callee-token-0123456789abcdef0123456789';
export const STRANGER_TOKEN = 'stranger-token-0123456789abcdef0123456789';
export const CLUSTER_TOKEN = 'cluster-token-0123456789abcdef0123456789';

export const MESH_APPS = [
  { id: 'caller', token: CALLER_TOKEN, allow: { apps: ['*'] } },
  { id: 'callee', token: CALLEE_TOKEN, allow: { callers: ['caller'] } },
  { id: 'stranger', token: STRANGER_TOKEN, allow: { apps: ['*'] } },
];

export interface TwoHosts {
  readonly host1: HearthProcess;
  readonly host2: HearthProcess;
  readonly tls: TlsFiles;
  /** Stops both hosts and removes the certificates. Idempotent. */
  close(): Promise<void>;
}

export interface TwoHostsOptions {
  readonly workers?: number;
  /** Merged into both hosts' configuration (e.g. an `invoke` section). */
  readonly config?: Record<string, unknown>;
}

export async function startTwoHosts(options: TwoHostsOptions = {}): Promise<TwoHosts> {
  const certDir = await mkdtemp(path.join(os.tmpdir(), 'ht-'));
  const started: HearthProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(started.splice(0).map((h) => h.stop().catch(() => undefined)));
    await rm(certDir, { recursive: true, force: true });
  };
  try {
    const tls = await makeTlsFiles(certDir);
    const ports = [await freePort(), await freePort()] as const;
    const hostConfig = (i: 0 | 1): Record<string, unknown> => ({
      apps: MESH_APPS,
      ...options.config,
      siblings: {
        agentId: `host-${i + 1}`,
        listen: { host: '127.0.0.1', port: ports[i] },
        tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile },
        token: CLUSTER_TOKEN,
        peers: [{ name: `host-${2 - i}`, host: '127.0.0.1', port: ports[1 - i] }],
        connectTimeoutMs: 2_000,
      },
    });
    const host1 = await startHearth({ config: hostConfig(0), workers: options.workers ?? 2 });
    started.push(host1);
    const host2 = await startHearth({ config: hostConfig(1), workers: options.workers ?? 2 });
    started.push(host2);
    return { host1, host2, tls, close };
  } catch (err) {
    await close();
    throw err;
  }
}
