// HTTP/1.1 over a Unix socket with node:http: one keep-alive agent of one socket per connection,
// so N connections really are N sockets used round-robin (a busy one queues, as a real client would).
import http from 'node:http';
import { errorOf, inBatches, once, type BenchClient, type Done } from './bench-client.js';

export interface HttpRequestSpec {
  method: 'GET' | 'POST';
  path: (n: number) => string;
  headers: http.OutgoingHttpHeaders;
  /** Request body of the n-th call, or null for none. */
  body: (n: number) => Buffer | string | null;
  /** Returns an error message when a response is not what the benchmark expects. */
  check: (status: number, bodyBytes: number) => string | null;
}

export function httpRequest(socketPath: string, agent: http.Agent, spec: HttpRequestSpec, n: number, done: Done): void {
  const finish = once(done);
  const body = spec.body(n);
  const headers = body === null ? spec.headers : { ...spec.headers, 'content-length': Buffer.byteLength(body) };
  try {
    const req = http.request({ socketPath, agent, method: spec.method, path: spec.path(n), headers }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on('end', () => {
        const problem = spec.check(res.statusCode ?? 0, bytes);
        finish(problem === null ? null : new Error(problem));
      });
      res.on('error', finish);
    });
    req.on('error', finish);
    req.end(body ?? undefined);
  } catch (err) {
    finish(errorOf(err));
  }
}

/**
 * Opens `connections` keep-alive connections; `warmup` (when given) is sent once on each so the
 * sockets exist before timing starts.
 */
export async function openHttpClient(socketPath: string, connections: number, spec: HttpRequestSpec,
  warmup: HttpRequestSpec | null): Promise<BenchClient> {
  const agents = Array.from({ length: connections }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  let n = 0;
  if (warmup !== null) {
    try {
      await inBatches(connections, 50, (i) => new Promise<void>((resolve, reject) => {
        const agent = agents[i];
        if (agent === undefined) throw new Error(`no agent ${i}`);
        httpRequest(socketPath, agent, warmup, i, (err) => (err ? reject(err) : resolve()));
      }));
    } catch (err) {
      for (const agent of agents) agent.destroy();
      throw err;
    }
  }
  return {
    connections,
    send(connection: number, done: Done) {
      const agent = agents[connection % connections];
      if (agent === undefined) done(new Error(`no connection ${connection}`));
      else httpRequest(socketPath, agent, spec, n++, done);
    },
    async close() {
      for (const agent of agents) agent.destroy();
    },
  };
}
