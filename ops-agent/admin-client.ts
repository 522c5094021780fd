// A tiny HTTP client for <run>/admin.sock, used by `hearth status`.
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
