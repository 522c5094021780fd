// A small HTTP/1.1 client over a Unix socket (node:http, no dependencies), so the HTTP tests can
// be pointed at an in-process server or at a real `hearth start` alike: give it a socket path
// and a token.
import http, { type IncomingHttpHeaders } from 'node:http';

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  text(): string;
  /** Parses the body as JSON (throws with the body text when it is not). */
  json<T = unknown>(): T;
}

export interface RequestOptions {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Buffer/string are sent as is; anything else as JSON (with Content-Type application/json). */
  readonly body?: unknown;
  /** Overrides the client's token for this request; `null` sends none. */
  readonly token?: string | null;
  /** How the token is sent. */
  readonly tokenHeader?: 'authorization' | 'dapr-api-token';
}

export interface HttpClientOptions {
  readonly token?: string;
  /** Reuse connections (default true). */
  readonly keepAlive?: boolean;
}

export class HttpClient {
  readonly socketPath: string;
  readonly agent: http.Agent;
  readonly #token: string | undefined;

  constructor(socketPath: string, options: HttpClientOptions = {}) {
    this.socketPath = socketPath;
    this.#token = options.token;
    this.agent = new http.Agent({ keepAlive: options.keepAlive ?? true });
  }

  request(options: RequestOptions): Promise<HttpResponse> {
    const headers: Record<string, string> = { host: 'hearth', ...options.headers };
    const token = options.token === undefined ? this.#token : options.token;
    if (token !== null && token !== undefined) {
      if (options.tokenHeader === 'dapr-api-token') headers['dapr-api-token'] = token;
      else headers.authorization = `Bearer ${token}`;
    }
    let payload: Buffer | undefined;
    if (options.body !== undefined) {
      if (Buffer.isBuffer(options.body)) payload = options.body;
      else if (typeof options.body === 'string') payload = Buffer.from(options.body, 'utf8');
      else {
        payload = Buffer.from(JSON.stringify(options.body), 'utf8');
        headers['content-type'] ??= 'application/json';
      }
      headers['content-length'] = String(payload.length);
    }
    return new Promise<HttpResponse>((resolve, reject) => {
      const req = http.request(
        { socketPath: this.socketPath, path: options.path, method: options.method ?? 'GET', headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => resolve(makeResponse(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  get(path: string, options: Omit<RequestOptions, 'path' | 'method'> = {}): Promise<HttpResponse> {
    return this.request({ ...options, path, method: 'GET' });
  }

  post(path: string, body?: unknown, options: Omit<RequestOptions, 'path' | 'method' | 'body'> = {}): Promise<HttpResponse> {
    return this.request({ ...options, path, method: 'POST', body });
  }

  delete(path: string, options: Omit<RequestOptions, 'path' | 'method'> = {}): Promise<HttpResponse> {
    return this.request({ ...options, path, method: 'DELETE' });
  }

  /** Opens a text/event-stream; resolves once the response headers arrived. */
  events(path: string, options: Omit<RequestOptions, 'path' | 'method' | 'body'> = {}): Promise<EventStream> {
    const headers: Record<string, string> = { host: 'hearth', accept: 'text/event-stream', ...options.headers };
    const token = options.token === undefined ? this.#token : options.token;
    if (token !== null && token !== undefined) headers.authorization = `Bearer ${token}`;
    return new Promise<EventStream>((resolve, reject) => {
      // Its own connection: the stream holds it for as long as it is open.
      const req = http.request({ socketPath: this.socketPath, path, method: 'GET', headers, agent: false }, (res) => {
        resolve(new EventStream(req, res));
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface ServerSentEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: string;
  json<T = unknown>(): T;
}

/** Parses a text/event-stream response into events; `next()` waits for the next one. */
export class EventStream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly #req: http.ClientRequest;
  readonly #res: http.IncomingMessage;
  readonly #queue: ServerSentEvent[] = [];
  readonly #waiters: { resolve: (e: ServerSentEvent | undefined) => void }[] = [];
  #buffer = '';
  #ended = false;
  /** Non-2xx responses keep their body here instead of being parsed as events. */
  #body: Buffer[] = [];

  constructor(req: http.ClientRequest, res: http.IncomingMessage) {
    this.#req = req;
    this.#res = res;
    this.status = res.statusCode ?? 0;
    this.headers = res.headers;
    res.on('data', (chunk: Buffer) => {
      if (this.status !== 200) {
        this.#body.push(chunk);
        return;
      }
      this.#buffer += chunk.toString('utf8');
      this.#parse();
    });
    const end = (): void => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w.resolve(undefined);
    };
    res.on('end', end);
    res.on('close', end);
    res.on('error', end);
  }

  get ended(): boolean {
    return this.#ended;
  }

  body(): Buffer {
    return Buffer.concat(this.#body);
  }

  /** The next event, or undefined when the stream ended first. */
  next(): Promise<ServerSentEvent | undefined> {
    const e = this.#queue.shift();
    if (e) return Promise.resolve(e);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push({ resolve }));
  }

  /** Resolves when the server ended the stream. */
  waitEnd(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return new Promise((resolve) => this.#res.once('close', () => resolve()));
  }

  close(): void {
    this.#req.destroy();
    this.#res.destroy();
  }

  #parse(): void {
    let sep: number;
    while ((sep = this.#buffer.indexOf('\n\n')) >= 0) {
      const block = this.#buffer.slice(0, sep);
      this.#buffer = this.#buffer.slice(sep + 2);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      let any = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'id') id = value;
        else if (field === 'data') data.push(value);
        else continue; // retry and unknown fields
        any = true;
      }
      if (!any || data.length === 0) continue;
      const text = data.join('\n');
      const e: ServerSentEvent = { event, id, data: text, json: <T>() => JSON.parse(text) as T };
      const w = this.#waiters.shift();
      if (w) w.resolve(e);
      else this.#queue.push(e);
    }
  }
}

function makeResponse(status: number, headers: IncomingHttpHeaders, body: Buffer): HttpResponse {
  return {
    status,
    headers,
    body,
    text: () => body.toString('utf8'),
    json: <T>() => {
      try {
        return JSON.parse(body.toString('utf8')) as T;
      } catch {
        throw new Error(`response ${status} is not JSON: ${body.toString('utf8').slice(0, 200)}`);
      }
    },
  };
}
