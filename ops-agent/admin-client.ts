// A tiny HTTP client for <run>/admin.sock, used by the CLI: plain GETs, and POSTs whose answer is
// an NDJSON stream read line by line as it arrives (upgrade, rollback, reload progress).
import http from 'node:http';

export interface AdminResponse {
  readonly status: number;
  readonly body: string;
}

export function adminGet(socketPath: string, urlPath: string, timeoutMs = 5_000): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: urlPath, method: 'GET', headers: { host: 'hearth' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from ${socketPath} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

/**
 * POSTs `body` (JSON, or nothing) and calls onLine for each NDJSON line of a 200 answer as it
 * arrives. Resolves with the status and, for a non-200 answer, its body. No overall timeout: a
 * hand-off is bounded by the agent's own deadlines; the connection failing ends it.
 */
export function adminPostStream(
  socketPath: string,
  urlPath: string,
  body: unknown,
  onLine: (line: unknown) => void,
  connectTimeoutMs = 5_000,
): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { host: 'hearth' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    const req = http.request({ socketPath, path: urlPath, method: 'POST', headers }, (res) => {
      req.setTimeout(0);
      res.setEncoding('utf8');
      let buffered = '';
      let whole = '';
      res.on('data', (chunk: string) => {
        if (res.statusCode !== 200) {
          whole += chunk;
          return;
        }
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line !== '') onLine(parseLine(line));
        }
      });
      res.on('end', () => {
        if (res.statusCode === 200 && buffered.trim() !== '') onLine(parseLine(buffered.trim()));
        resolve({ status: res.statusCode ?? 0, body: whole });
      });
      res.on('error', reject);
    });
    // Only until the agent starts answering; the stream itself may stay quiet for a while.
    req.setTimeout(connectTimeoutMs, () => req.destroy(Object.assign(new Error(`no answer from ${socketPath} within ${connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return { message: line };
  }
}
