// The HAProxy anchor (scenarios/anchors.ts): two HAProxy processes from Debian's `haproxy` package,
// each its own process in the foreground (`haproxy -f <cfg> -db`, one thread), stopped by pid. Hop 1
// takes HTTP/1.1 on a Unix socket and forwards over TLS on loopback (server certificate verified
// against the throw-away CA) to hop 2, which forwards to the node:http echo's Unix socket; both in
// `mode http`, keep-alive on both sides, idle server connections shared (`http-reuse always`).
// Its CPU/RSS column covers both hops and the echo. When `haproxy` is not installed the anchor row
// is reported skipped (haproxyMissing()), not failed: every other row still means something.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stopChild } from '../../test/support/child-process.js';
import { freePort } from '../../test/support/free-port.js';
import { requireBinary } from '../../test/support/redis-server.js';
import { makeTlsFiles } from '../../test/support/tls-certs.js';
import { waitFor } from '../../test/support/wait.js';
import type { CleanupStack } from './cleanup-stack.js';
import type { ServerUnderTest } from './usage-monitor.js';

export const HAPROXY_MISSING = 'haproxy not installed (apt-get install haproxy)';

export interface HaproxyChain {
  /** Hop 1's HTTP socket. */
  readonly socketPath: string;
  /** Both hops (add the echo behind them for the row's column). */
  readonly server: ServerUnderTest;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;

/** The reason the HAProxy row cannot run here, or null when `haproxy` is on PATH. */
export function haproxyMissing(): string | null {
  try {
    requireBinary('haproxy', 'haproxy');
    return null;
  } catch {
    return HAPROXY_MISSING;
  }
}

const GLOBAL_AND_DEFAULTS = `global
  nbthread 1
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
`;

/** Hop 1: HTTP on a Unix socket → TLS to hop 2, its certificate verified. */
export function hop1Config(socketPath: string, port: number, caFile: string): string {
  return `${GLOBAL_AND_DEFAULTS}
frontend entry
  bind unix@${socketPath}
  default_backend hop2

backend hop2
  server hop2 127.0.0.1:${port} ssl verify required ca-file ${caFile} verifyhost localhost
`;
}

/** Hop 2: TLS on loopback → the echo's Unix socket. */
export function hop2Config(port: number, pemFile: string, echoSocket: string): string {
  return `${GLOBAL_AND_DEFAULTS}
frontend tls
  bind 127.0.0.1:${port} ssl crt ${pemFile}
  default_backend echo

backend echo
  server echo unix@${echoSocket}
`;
}

function accepts(where: net.NetConnectOpts): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect(where);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts `haproxy -f cfg -db`; resolves once `where` accepts connections, fails with its stderr if it exits. */
async function startHop(cfg: string, where: net.NetConnectOpts, label: string, cleanup: CleanupStack): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4_000);
  });
  const stop = (): Promise<void> => stopChild(child, STOP_GRACE_MS);
  const unregister = cleanup.add(label, stop);
  try {
    await waitFor(`${label} to listen`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${label} exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`);
      return accepts(where);
    }, { timeoutMs: START_TIMEOUT_MS, everyMs: 50, retryErrors: false });
  } catch (err) {
    await stop();
    unregister();
    throw err;
  }
  return {
    child,
    stop: async () => {
      unregister();
      await stop();
    },
  };
}

export async function startHaproxyChain(cleanup: CleanupStack, echoSocket: string): Promise<HaproxyChain> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hb-haproxy-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  const unregisterDir = cleanup.add('HAProxy configuration', async () => removeDir());
  const hops: { child: ChildProcess; stop: () => Promise<void> }[] = [];
  const stop = async (): Promise<void> => {
    for (const hop of [...hops].reverse()) await hop.stop();
    unregisterDir();
    removeDir();
  };
  try {
    const { caFile, certFile, keyFile } = await makeTlsFiles(dir);
    // HAProxy takes the certificate and its key from one PEM.
    const pemFile = path.join(dir, 'hop2.pem');
    writeFileSync(pemFile, `${readFileSync(certFile, 'utf8')}${readFileSync(keyFile, 'utf8')}`, { mode: 0o600 });
    const port = await freePort();
    const socketPath = path.join(dir, 'hop1.sock');
    const cfg2 = path.join(dir, 'hop2.cfg');
    const cfg1 = path.join(dir, 'hop1.cfg');
    writeFileSync(cfg2, hop2Config(port, pemFile, echoSocket));
    writeFileSync(cfg1, hop1Config(socketPath, port, caFile));
    hops.push(await startHop(cfg2, { host: '127.0.0.1', port }, 'HAProxy hop 2', cleanup));
    hops.push(await startHop(cfg1, { path: socketPath }, 'HAProxy hop 1', cleanup));
    const pids = hops.map((hop) => hop.child.pid).filter((pid): pid is number => pid !== undefined);
    const [first] = pids;
    if (first === undefined || pids.length !== 2) throw new Error('HAProxy started, but has no pid');
    return {
      socketPath,
      server: { label: '2 HAProxy', rootPid: first, pids: () => pids, workerPids: () => pids },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
