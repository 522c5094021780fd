// The Node relay anchor (scenarios/anchors.ts): the least a Node program does to carry an HTTP call
// over Hearth's path, in three processes like two agents and a callee. The entry takes HTTP/1.1 on
// a Unix socket and turns each request into a frame (relay-frames.ts, stream id = request number)
// on ONE TLS connection to the relay; the relay forwards each whole frame over a Unix socket to the
// frame echo, which answers a Response frame with the same body; the relay forwards it back and the
// entry answers the HTTP request whose stream id it carries. No reconnects: a lost connection
// answers 502, and the row counts errors.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { FrameReader, forwardFrames } from './length-prefixed-frames.js';
import type { RunningServer } from './raw-echo-server.js';
import { decodeRelayFrame, encodeRelayFrame, RelayFrameType } from './relay-frames.js';

const MAX_STREAM_ID = 0xffff_ffff;


function listen(server: net.Server, where: string | { host: string; port: number }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof where === 'string') server.listen(where, () => resolve());
    else server.listen(where.port, where.host, () => resolve());
  });
}

function closer(server: net.Server, sockets: Set<net.Socket>): RunningServer {
  return {
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** The callee: answers every Request frame with a Response frame of the same stream id and body. */
export async function startFrameEchoServer(socketPath: string): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (frame) => {
          const { streamId, body } = decodeRelayFrame(frame);
          socket.write(encodeRelayFrame(RelayFrameType.Response, streamId, body));
        });
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  await listen(server, socketPath);
  return closer(server, sockets);
}

/** The middle hop: TLS on `port`, one Unix connection to the frame echo per TLS connection. */
export async function startRelayHop(port: number, certFile: string, keyFile: string, echoSocket: string): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (socket) => {
    const upstream = net.createConnection({ path: echoSocket });
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
    }
    forwardFrames(socket, upstream);
    forwardFrames(upstream, socket);
  });
  await listen(server, { host: '127.0.0.1', port });
  return closer(server, sockets);
}

function connectTls(port: number, caFile: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(caFile), servername: 'localhost' });
    socket.once('secureConnect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** The entry: HTTP/1.1 on `socketPath`, every request a frame on one TLS connection to the relay. */
export async function startRelayEntry(socketPath: string, port: number, caFile: string): Promise<RunningServer> {
  const link = await connectTls(port, caFile);
  link.setNoDelay(true);
  const pending = new Map<number, http.ServerResponse>();
  let lost: string | null = null;
  let last = 0;
  const fail = (res: http.ServerResponse, why: string): void => {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(why);
  };
  const reader = new FrameReader();
  link.on('data', (chunk: Buffer) => {
    try {
      reader.push(chunk, (frame) => {
        const { streamId, body } = decodeRelayFrame(frame);
        const res = pending.get(streamId);
        if (res === undefined) return;
        pending.delete(streamId);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      });
    } catch (err) {
      link.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  });
  link.on('error', () => link.destroy());
  link.on('close', () => {
    lost = 'the relay connection closed';
    for (const res of pending.values()) fail(res, lost);
    pending.clear();
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (lost !== null) {
        fail(res, lost);
        return;
      }
      last = last === MAX_STREAM_ID ? 1 : last + 1;
      pending.set(last, res);
      link.write(encodeRelayFrame(RelayFrameType.Request, last, Buffer.concat(chunks)));
    });
  });
  server.keepAliveTimeout = 60_000;
  try {
    await listen(server, socketPath);
  } catch (err) {
    link.destroy();
    throw err;
  }
  return {
    close: () => new Promise<void>((resolve) => {
      link.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
