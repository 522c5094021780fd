// A client for one host's admin API on TCP (plain HTTP with `authorization: Bearer <token>`: the
// ops-agent's TCP listener has no TLS, so it belongs on a management network). GETs with a
// timeout, and the hand-off POSTs whose 200 answer is NDJSON progress ending in a final
// `{result, …}` line. Every failure becomes a RolloutError with a code: the host's own
// (`hearth-error-code` / `errorCode`) when it answered one, the tool's when it did not answer.
import http from 'node:http';
import type { FinalEvent, ProgressEvent } from '../ops-agent/upgrade/progress.js';
import type { StatusReport } from '../ops-agent/status-report.js';
import type { HostEntry } from './rollout-args.js';
import { RolloutError } from './rollout-errors.js';

export interface Readiness {
  readonly ready: boolean;
  readonly problems: readonly string[];
}

export class AdminTcpClient {
  readonly #host: HostEntry;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(host: HostEntry, token: string, timeoutMs: number) {
    this.#host = host;
    this.#token = token;
    this.#timeoutMs = timeoutMs;
  }

  async status(): Promise<StatusReport> {
    const r = await this.#get('/v1/status');
    if (r.status !== 200) throw hostError(r.status, r.code, r.body, this.#host.name);
    const s = parseJson(r.body, this.#host.name) as Partial<StatusReport>;
    if (typeof s.activeVersion !== 'string' || typeof s.upgrade !== 'object') throw new RolloutError('HEARTH_ERR_BAD_ANSWER', `${this.#host.name}: /v1/status is not a Hearth status`);
    return s as StatusReport;
  }

  /** /readyz answers 200 or 503 with the same body; anything else is an error. */
  async readiness(): Promise<Readiness> {
    const r = await this.#get('/readyz');
    if (r.status !== 200 && r.status !== 503) throw hostError(r.status, r.code, r.body, this.#host.name);
    const body = parseJson(r.body, this.#host.name) as Partial<Readiness>;
    return { ready: r.status === 200, problems: Array.isArray(body.problems) ? body.problems.map(String) : [] };
  }

  /**
   * POST /v1/upgrade or /v1/rollback; `onProgress` sees each progress line as it arrives. Resolves
   * with the final line, whatever its result. Throws when the request was refused (busy,
   * unauthenticated, bad body), the connection failed, or no result came within `timeoutMs`.
   */
  handoff(kind: 'upgrade' | 'rollback', body: Record<string, string> | undefined, onProgress: (e: ProgressEvent) => void, timeoutMs: number): Promise<FinalEvent> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const host = this.#host.name;
    return new Promise<FinalEvent>((resolve, reject) => {
      let settled = false;
      let final: FinalEvent | undefined;
      const settle = (err: unknown, value?: FinalEvent): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (value) resolve(value);
        else reject(err instanceof RolloutError ? err : connectionError(err as Error, host));
        req.destroy();
      };
      const onLine = (line: string): void => {
        const event = parseJson(line, host) as ProgressEvent | FinalEvent;
        if ('result' in event) final = event;
        else onProgress(event);
      };
      const req = http.request(
        {
          host: this.#host.host,
          port: this.#host.port,
          method: 'POST',
          path: `/v1/${kind}`,
          agent: false,
          headers: {
            authorization: `Bearer ${this.#token}`,
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          res.setEncoding('utf8');
          let buffered = '';
          res.on('data', (chunk: string) => {
            buffered += chunk;
            if (res.statusCode !== 200) return;
            try {
              let nl: number;
              while ((nl = buffered.indexOf('\n')) >= 0) {
                const line = buffered.slice(0, nl).trim();
                buffered = buffered.slice(nl + 1);
                if (line !== '') onLine(line);
              }
            } catch (err) {
              settle(err);
            }
          });
          res.on('end', () => {
            if (res.statusCode !== 200) return settle(hostError(res.statusCode ?? 0, headerCode(res.headers), buffered, host));
            try {
              if (buffered.trim() !== '') onLine(buffered.trim());
            } catch (err) {
              return settle(err);
            }
            if (final) return settle(undefined, final);
            return settle(new RolloutError('HEARTH_ERR_BAD_ANSWER', `${host}: the ${kind} stream ended without a result (the ops-agent restarted?); check its status`));
          });
          res.on('error', (err) => settle(err));
          // A connection cut mid-stream ends here without 'end'.
          res.on('close', () => settle(new RolloutError('HEARTH_ERR_NOT_RUNNING', `${host}: the connection closed before the ${kind} result; check its status`)));
        },
      );
      // The whole hand-off, download included, is bounded here; the host carries on regardless.
      const timer = setTimeout(() => {
        settle(new RolloutError('HEARTH_ERR_TIMEOUT', `${host}: no ${kind} result within ${timeoutMs} ms; the host may still be working: check its status`));
      }, timeoutMs);
      req.on('error', (err) => settle(err));
      req.end(payload);
    });
  }

  #get(urlPath: string): Promise<{ status: number; code: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: this.#host.host, port: this.#host.port, path: urlPath, agent: false, headers: { authorization: `Bearer ${this.#token}` }, timeout: this.#timeoutMs },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, code: headerCode(res.headers), body }));
          res.on('error', (err) => reject(connectionError(err, this.#host.name)));
        },
      );
      req.on('timeout', () => req.destroy(new RolloutError('HEARTH_ERR_TIMEOUT', `${this.#host.name}: GET ${urlPath}: no answer within ${this.#timeoutMs} ms`)));
      req.on('error', (err) => reject(err instanceof RolloutError ? err : connectionError(err, this.#host.name)));
      req.end();
    });
  }
}

function headerCode(headers: http.IncomingHttpHeaders): string | undefined {
  const c = headers['hearth-error-code'];
  return typeof c === 'string' ? c : undefined;
}

/** A refusal: the host's code from the header or the JSON body; else what the status says. */
function hostError(status: number, code: string | undefined, body: string, host: string): RolloutError {
  let parsed: { errorCode?: unknown; message?: unknown } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    // not JSON: not a Hearth admin API answer (another service on that port?)
  }
  const c = code ?? (typeof parsed.errorCode === 'string' ? parsed.errorCode : undefined);
  if (c === undefined) return new RolloutError('HEARTH_ERR_BAD_ANSWER', `${host}: HTTP ${status} without a Hearth error code: ${body.slice(0, 200)}`);
  return new RolloutError(c, `${host}: ${typeof parsed.message === 'string' ? parsed.message : `HTTP ${status}`}`);
}

function connectionError(err: Error, host: string): RolloutError {
  const code = (err as NodeJS.ErrnoException).code;
  return new RolloutError('HEARTH_ERR_NOT_RUNNING', `${host}: ${code !== undefined ? `${code}: ` : ''}${err.message}`);
}

function parseJson(text: string, host: string): unknown {
  try {
    const v = JSON.parse(text) as unknown;
    if (v !== null && typeof v === 'object') return v;
  } catch {
    // below
  }
  throw new RolloutError('HEARTH_ERR_BAD_ANSWER', `${host}: not the Hearth admin API (not a JSON object): ${text.slice(0, 200)}`);
}
