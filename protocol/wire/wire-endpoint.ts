// Where a wire connection goes: a Unix socket path (an app's wire.sock, another worker) or a TCP
// host:port, which is always TLS (the sibling port carries tokens and app data between hosts).
import net from 'node:net';
import tls from 'node:tls';
import { agentUnavailable } from '../errors.js';

export interface WireTlsOptions {
  /** CA certificate(s) that sign the server's certificate (PEM). */
  readonly ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate and key (PEM), for mutual TLS between agents. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Name checked against the server's certificate; defaults to `host` when it is not an IP. */
  readonly servername?: string;
}

export type WireEndpoint =
  | { readonly path: string }
  | { readonly host: string; readonly port: number; readonly tls: WireTlsOptions };

export function describeEndpoint(endpoint: WireEndpoint): string {
  return 'path' in endpoint ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
}

/** Resolves with a connected (and, for TCP, TLS-verified) socket; rejects with AGENT_UNAVAILABLE, sent false. */
export function connectSocket(endpoint: WireEndpoint, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const where = describeEndpoint(endpoint);
    let socket: net.Socket;
    let readyEvent: 'connect' | 'secureConnect';
    if ('path' in endpoint) {
      socket = net.createConnection({ path: endpoint.path });
      readyEvent = 'connect';
    } else {
      const { ca, cert, key, servername } = endpoint.tls;
      const name = servername ?? (net.isIP(endpoint.host) ? undefined : endpoint.host);
      socket = tls.connect({
        host: endpoint.host,
        port: endpoint.port,
        ...(ca !== undefined ? { ca } : {}),
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
        ...(name !== undefined ? { servername: name } : {}),
      });
      readyEvent = 'secureConnect';
    }
    const timer = setTimeout(() => fail(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    function cleanup(): void {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.off(readyEvent, ready);
    }
    function fail(err: Error): void {
      cleanup();
      socket.destroy();
      reject(agentUnavailable(`cannot connect to ${where}: ${err.message}`, false, err));
    }
    function ready(): void {
      cleanup();
      socket.setNoDelay(true);
      if (!('path' in endpoint)) socket.setKeepAlive(true, 10_000);
      resolve(socket);
    }
    socket.once('error', fail);
    socket.once(readyEvent, ready);
  });
}
