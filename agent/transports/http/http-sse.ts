// Server-Sent Events streams (text/event-stream) and the registry that ends them all when the
// server drains, so a streaming client reconnects to the next generation instead of holding the
// old one open until the grace period runs out.
import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';

const HEARTBEAT_MS = 15_000;

export class SseStream {
  readonly #stream = new PassThrough();
  readonly #heartbeat: NodeJS.Timeout;
  #nextId = 1;
  #closed = false;

  constructor(onClose: () => void) {
    // A comment line every 15 s keeps idle proxies and client timeouts from cutting the stream.
    this.#heartbeat = setInterval(() => this.#write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.#heartbeat.unref();
    this.#stream.once('close', () => {
      this.#closed = true;
      clearInterval(this.#heartbeat);
      onClose();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends the response headers and starts streaming on `reply`. */
  attach(reply: FastifyReply): FastifyReply {
    // Tell the client to retry quickly: the next generation is already listening.
    this.#write('retry: 1000\n\n');
    return reply
      .code(200)
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-accel-buffering', 'no')
      .send(this.#stream);
  }

  send(event: string, data: unknown): void {
    // Compact JSON never contains a raw newline, so one `data:` line carries it.
    this.#write(`id: ${this.#nextId++}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends the stream with a final event (the client should reconnect). */
  end(event?: string, data?: unknown): void {
    if (this.#closed) return;
    if (event !== undefined) this.send(event, data ?? {});
    clearInterval(this.#heartbeat);
    this.#stream.end();
  }

  destroy(): void {
    clearInterval(this.#heartbeat);
    this.#stream.destroy();
  }

  #write(text: string): void {
    if (!this.#closed && !this.#stream.writableEnded) this.#stream.write(text);
  }
}

export class SseRegistry {
  readonly #open = new Set<SseStream>();

  /** `onClose` runs once, whichever side ends the stream. */
  open(onClose: () => void): SseStream {
    const stream: SseStream = new SseStream(() => {
      this.#open.delete(stream);
      onClose();
    });
    this.#open.add(stream);
    return stream;
  }

  get size(): number {
    return this.#open.size;
  }

  endAll(event: string, data: unknown): void {
    for (const s of [...this.#open]) s.end(event, data);
  }

  destroyAll(): void {
    for (const s of [...this.#open]) s.destroy();
  }
}
