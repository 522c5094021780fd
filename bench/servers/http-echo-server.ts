// The direct anchor (scenarios/anchors.ts): a bare `node:http` server on a Unix socket that answers
// every request with its body — no framework, so the row is what Node's HTTP/1.1 costs and nothing
// else. The HAProxy hops forward to it too.
import http from 'node:http';
import type { RunningServer } from './raw-echo-server.js';

export async function startHttpEchoServer(socketPath: string): Promise<RunningServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
