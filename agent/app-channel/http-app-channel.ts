// The app channel over HTTP (docs/app-channel.md): an app that runs its own HTTP server receives
// its invocations there, unchanged — `<verb> /<method>?<query>` with the caller's headers and body,
// the calling app in `dapr-caller-app-id`, trace context in `traceparent`, and, when configured,
// the channel's own token in `dapr-api-token` so the server can tell the agent from anyone else
// who can reach it (Dapr's APP_API_TOKEN) — as Dapr delivers them.
//
// It is one more instance of the app in this worker's CallbackRegistry: a CallbackSink whose
// push() is an HTTP request. So invocations reach it with everything a callback stream gets —
// governance, deadlines, ACLs, the local short-circuit, budgets — and every worker holds its own,
// so a call never hops between workers to reach it. The answer's status, headers and body come
// back as the invocation's result (a status other than 200 as metadata `hearth-http-status`, which
// the HTTP invoke route answers with). A request that never reached the server (its connection
// was refused, or it was still waiting for one) gives HEARTH_ERR_APP_UNAVAILABLE marked not sent,
// so another instance may take the call; one that did reach it and was lost (hang-up, garbage,
// too large, timeoutMs) fails that call only, with a coded error, and is never sent again.
//
// Health: with `healthPath`, the channel takes invocations only while `GET <healthPath>` answers
// 2xx (checked every healthIntervalMs). Without one, a server that refuses connections
// (consecutive refusals) is taken out until a connection to it succeeds again. Either way, what was
// delivered is still answered; nothing new arrives while it is out.
import http from 'node:http';
import net from 'node:net';
import type { Logger } from 'pino';
import type { CallbackInvocation, CallbackOutcome, CallbackRegistration } from '../building-blocks/runtime-api.js';
import type { AppChannelConfig } from '../config/config-schema.js';
import type { CallbackRegistry } from './callback-registry.js';

/** Metadata on a result whose HTTP status was not 200. */
export const HTTP_STATUS_METADATA = 'hearth-http-status';
/** The calling app, as Dapr names it to the callee. */
export const CALLER_HEADER = 'dapr-caller-app-id';
/** The channel's token, as Dapr sends APP_API_TOKEN to the app. */
export const APP_TOKEN_HEADER = 'dapr-api-token';
/** The verbs an invocation may carry (the HTTP invoke route's); anything else is refused before sending. */
const VERBS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);
/** The metadata key that carries an invocation's query string (the HTTP invoke route sets it). */
export const QUERY_METADATA_KEY = 'query';
const HEALTH_TIMEOUT_MS = 2_000;
/** What a connect attempt that the server refused looks like. */
const REFUSAL_CODES = new Set(['ECONNREFUSED', 'ENOENT']);
/** Connection refusals in a row after which a channel without a health path is taken out. */
const REFUSALS_BEFORE_OUT = 3;
/** Headers about one HTTP hop or its credentials, never copied between the call and the request or the answer. */
const HOP_HEADERS = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'host', 'content-length', 'content-type', 'authorization', APP_TOKEN_HEADER, 'expect', 'traceparent', CALLER_HEADER,
]);
/** A header name and value that can travel as they are (metadata ↔ HTTP headers, both ways). */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]{1,256}$/;
export const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** What Node accepts in a request path (it refuses controls and spaces). */
const QUERY = /^[\x21-\x7e]{1,8192}$/;

export interface HttpAppChannelOptions {
  readonly appId: string;
  readonly channel: Readonly<AppChannelConfig>;
  readonly callbacks: CallbackRegistry;
  /** limits.maxBodyBytes: a larger answer fails the call. */
  readonly maxBodyBytes: number;
  readonly logger: Logger;
}

type Target = { socketPath: string } | { host: string; port: number };

export class HttpAppChannel {
  readonly #o: HttpAppChannelOptions;
  readonly #log: Logger;
  readonly #target: Target;
  readonly #agent: http.Agent;
  /** Requests in flight by `<instance>:<invocation id>` (cancel() aborts one; ids restart per registration). */
  readonly #requests = new Map<string, http.ClientRequest>();
  /** Told each time the channel (re)opens. */
  readonly #onOpen: (() => void)[] = [];
  #registration: CallbackRegistration | undefined;
  #recheck: NodeJS.Timeout | undefined;
  #healthy: boolean | undefined;
  #refusals = 0;
  #closed = false;

  constructor(options: HttpAppChannelOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'app-channel', app: options.appId });
    this.#target = parseAddress(options.channel.address);
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: options.channel.maxConcurrency });
  }

  /** True while invocations may be delivered (registered with the registry). */
  get open(): boolean {
    return this.#registration !== undefined;
  }

  /** `listener` runs each time the channel opens again (a health check passes, a refusing server answers). */
  onOpen(listener: () => void): void {
    this.#onOpen.push(listener);
  }

  get appId(): string {
    return this.#o.appId;
  }

  get maxConcurrency(): number {
    return this.#o.channel.maxConcurrency;
  }

  get timeoutMs(): number {
    return this.#o.channel.timeoutMs;
  }

  get healthIntervalMs(): number {
    return this.#o.channel.healthIntervalMs;
  }

  /**
   * A request of the agent's own to the app's server (push subscriptions, `GET /dapr/subscribe`),
   * on the channel's connections and with its token; destroyed after timeoutMs.
   */
  request(o: { method: string; path: string; headers: http.OutgoingHttpHeaders; timeoutMs: number }): http.ClientRequest {
    const headers = { ...o.headers };
    if (this.#o.channel.appToken !== undefined) headers[APP_TOKEN_HEADER] = this.#o.channel.appToken;
    const req = http.request({ ...this.#target, agent: this.#agent, method: o.method, path: o.path, headers });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    req.once('close', () => clearTimeout(timer));
    return req;
  }

  /** Registers at once, or — with a health path — once the first check passes (checked from now on). */
  start(): void {
    if (this.#o.channel.healthPath === undefined) this.#register();
    else void this.#check();
  }

  /** Takes nothing new; what was delivered gets up to graceMs to be answered; then the connections go. */
  async close(graceMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#recheck);
    await this.#takeOut(graceMs);
    this.destroy();
  }

  /** Forced: requests in flight are aborted (their calls fail HEARTH_ERR_APP_UNAVAILABLE). */
  destroy(): void {
    this.#closed = true;
    clearTimeout(this.#recheck);
    this.#registration?.close();
    this.#registration = undefined;
    for (const req of this.#requests.values()) req.destroy();
    this.#agent.destroy();
  }

  #register(): void {
    if (this.#closed || this.#registration !== undefined) return;
    // Each registration answers its own invocations (a health flap may leave one draining beside a new one).
    const own: { registration?: CallbackRegistration } = {};
    own.registration = this.#o.callbacks.register(
      this.#o.appId,
      { push: (inv) => this.#deliver(inv, own.registration), cancel: (id) => this.#requests.get(`${own.registration?.instanceId ?? ''}:${id}`)?.destroy() },
      { maxConcurrency: this.#o.channel.maxConcurrency },
    );
    this.#registration = own.registration;
    this.#refusals = 0;
    this.#log.info({ address: this.#o.channel.address }, 'app channel open');
    for (const listener of this.#onOpen) listener();
  }

  /** No new invocations; those delivered are answered within graceMs. */
  async #takeOut(graceMs: number): Promise<void> {
    const registration = this.#registration;
    this.#registration = undefined;
    await registration?.drain(graceMs);
  }

  /** The health check (health path), or — taken out after refusals — a connect probe, every healthIntervalMs. */
  async #check(): Promise<void> {
    if (this.#closed) return;
    const healthy = this.#o.channel.healthPath === undefined ? await this.#connects() : await this.#healthPathPasses();
    if (this.#closed) return;
    if (healthy !== this.#healthy) {
      this.#healthy = healthy;
      if (healthy) this.#register();
      else {
        this.#log.warn({ path: this.#o.channel.healthPath }, 'app channel unhealthy: no new invocations until its health check passes');
        void this.#takeOut(this.#o.channel.timeoutMs);
      }
    }
    // Without a health path the probe only runs until the server takes connections again.
    if (this.#o.channel.healthPath === undefined && healthy) return;
    this.#recheck = setTimeout(() => void this.#check(), this.#o.channel.healthIntervalMs);
    this.#recheck.unref();
  }

  /** `GET <healthPath>` answers 2xx within HEALTH_TIMEOUT_MS, on a connection of its own. */
  #healthPathPasses(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.request({ ...this.#target, agent: false, method: 'GET', path: this.#o.channel.healthPath }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300));
        res.on('error', () => done(false));
      });
      const timer = setTimeout(() => done(false), HEALTH_TIMEOUT_MS);
      function done(ok: boolean): void {
        clearTimeout(timer);
        req.destroy();
        resolve(ok);
      }
      req.on('error', () => done(false));
      req.end();
    });
  }

  /** A connection to the server opens within HEALTH_TIMEOUT_MS. */
  #connects(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = 'socketPath' in this.#target ? net.connect(this.#target.socketPath) : net.connect(this.#target.port, this.#target.host);
      const timer = setTimeout(() => done(false), HEALTH_TIMEOUT_MS);
      function done(ok: boolean): void {
        clearTimeout(timer);
        socket.destroy();
        resolve(ok);
      }
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    });
  }

  /** Refused `REFUSALS_BEFORE_OUT` times in a row without a health path: out until a connect probe succeeds. */
  #refused(): void {
    if (this.#o.channel.healthPath !== undefined || this.#registration === undefined) return;
    this.#refusals += 1;
    if (this.#refusals < REFUSALS_BEFORE_OUT) return;
    this.#log.warn({ address: this.#o.channel.address, refusals: this.#refusals }, 'app channel refuses connections: no new invocations until it takes one');
    this.#healthy = false;
    void this.#takeOut(this.#o.channel.timeoutMs);
    this.#recheck = setTimeout(() => void this.#check(), this.#o.channel.healthIntervalMs);
    this.#recheck.unref();
  }

  /** One invocation as one HTTP request; its outcome goes back through the registration that pushed it. */
  #deliver(inv: CallbackInvocation, registration: CallbackRegistration | undefined): void {
    if (registration === undefined || this.#closed) throw new Error('the app channel is closed');
    const complete = (outcome: CallbackOutcome): void => registration.complete(inv.id, outcome);
    const verb = inv.httpVerb === '' ? 'POST' : inv.httpVerb.toUpperCase();
    const query = inv.metadata[QUERY_METADATA_KEY] ?? '';
    if (!VERBS.has(verb) || (query !== '' && !QUERY.test(query))) {
      const what = VERBS.has(verb) ? 'its query string has characters a URL cannot carry' : `verb "${verb.slice(0, 16)}" is not one of ${[...VERBS].join(', ')}`;
      complete({ ok: false, code: 'INVALID_ARGUMENT', message: `the invocation cannot be sent as HTTP: ${what}`, unreached: { code: 'HEARTH_ERR_INVALID_ARGUMENT', notSent: true } });
      return;
    }
    const path = `/${encodePath(inv.method)}${query === '' ? '' : `?${query}`}`;
    const timeoutMs = Math.min(this.#o.channel.timeoutMs, inv.deadlineMs > 0 ? inv.deadlineMs : Infinity);
    const req = http.request({ ...this.#target, agent: this.#agent, method: verb, path, headers: this.#headers(inv) });
    const key = `${registration.instanceId}:${inv.id}`;
    this.#requests.set(key, req);
    // Whether the request can have reached the server: only once a connection to it is open.
    let connected = false;
    req.on('socket', (socket) => {
      if (req.reusedSocket || !socket.connecting) connected = true;
      else {
        socket.once('connect', () => {
          connected = true;
          this.#refusals = 0;
        });
      }
    });
    let settled = false;
    const settle = (outcome: CallbackOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.#requests.delete(key);
      complete(outcome);
    };
    const timer = setTimeout(() => {
      settle({
        ok: false,
        code: 'TIMEOUT',
        message: connected ? `its server did not answer within ${Math.round(timeoutMs)} ms` : `no connection to its server within ${Math.round(timeoutMs)} ms`,
        unreached: { code: connected ? 'HEARTH_ERR_TIMEOUT' : 'HEARTH_ERR_APP_UNAVAILABLE', notSent: !connected },
      });
      req.destroy();
    }, timeoutMs);
    req.on('response', (res) => {
      this.#refusals = 0;
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > this.#o.maxBodyBytes) {
          settle({ ok: false, code: 'RESPONSE_TOO_LARGE', message: `its answer exceeds limits.maxBodyBytes (${this.#o.maxBodyBytes} bytes)` });
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const metadata = answerMetadata(res.headers);
        if (status !== 200) metadata[HTTP_STATUS_METADATA] = String(status);
        settle({ ok: true, result: { data: Buffer.concat(chunks, bytes), contentType: res.headers['content-type'] ?? '', metadata } });
      });
      res.on('error', (err) => settle(lost(err)));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        // Only a server that refused (not a call cancelled or timed out while waiting for a socket).
        if (!settled && REFUSAL_CODES.has(err.code ?? '')) this.#refused();
        settle({ ok: false, code: err.code ?? 'UNREACHABLE', message: `its server cannot be reached: ${err.message}`, unreached: { code: 'HEARTH_ERR_APP_UNAVAILABLE', notSent: true } });
        return;
      }
      settle(lost(err));
    });
    // Whatever else ends it (an upgrade or CONNECT answer Node hands to no one, a response cut short).
    req.on('close', () => settle(lost(Object.assign(new Error('the connection closed before a complete answer'), { code: 'ECONNRESET' }))));
    req.end(inv.data);
  }

  /** The invocation's metadata as request headers (the plain ones), its content type, caller, trace and the channel's token. */
  #headers(inv: CallbackInvocation): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(inv.metadata)) {
      const key = name.toLowerCase();
      if (key === QUERY_METADATA_KEY || !TOKEN.test(key) || !HEADER_VALUE.test(value) || HOP_HEADERS.has(key) || key.startsWith('hearth-')) continue;
      headers[key] = value;
    }
    if (inv.contentType !== '' && HEADER_VALUE.test(inv.contentType)) headers['content-type'] = inv.contentType;
    headers[CALLER_HEADER] = inv.callerAppId;
    if (inv.traceparent !== '') headers.traceparent = inv.traceparent;
    if (this.#o.channel.appToken !== undefined) headers[APP_TOKEN_HEADER] = this.#o.channel.appToken;
    headers['content-length'] = inv.data.length;
    return headers;
  }
}

/** A request that reached the server and got no usable answer: never sent again (it may have run). */
function lost(err: NodeJS.ErrnoException): CallbackOutcome {
  if (err.code?.startsWith('HPE_') === true) return { ok: false, code: 'MALFORMED_RESPONSE', message: `its server answered with something that is not HTTP: ${err.message}` };
  return { ok: false, code: err.code ?? 'LOST', message: `its server closed the connection before answering: ${err.message}`, unreached: { code: 'HEARTH_ERR_APP_UNAVAILABLE', notSent: false } };
}

/** The answer's headers as the result's metadata (the plain ones; a repeated header joined with `, `). */
function answerMetadata(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_HEADERS.has(name) || name.startsWith('hearth-')) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Each segment of the method percent-encoded as a path segment; `/` separates them as it does in Dapr. */
function encodePath(method: string): string {
  return method.split('/').map(encodeURIComponent).join('/');
}

function parseAddress(address: string): Target {
  if (address.startsWith('unix:')) return { socketPath: address.slice('unix:'.length) };
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(colon + 1)) };
}
