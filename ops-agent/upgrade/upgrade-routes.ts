// The hand-off routes of the management API. Upgrade, rollback and reload answer 200 with an
// NDJSON stream — one progress line per event, then a final `{result, code?, message?, phases}`
// line — because they take seconds to minutes and the caller wants to watch; a request that
// cannot even begin (busy, no previous version, bad body) gets a plain JSON error instead.
// The hand-off runs to its end even if the caller hangs up.
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { FinalEvent, ProgressEvent } from './progress.js';
import type { UpgradeManager } from './upgrade-manager.js';

interface UpgradeBody {
  readonly artifact: string;
  readonly sha256: string;
  readonly signature?: string;
}

const upgradeBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['artifact', 'sha256'],
  properties: {
    artifact: { type: 'string', minLength: 1, maxLength: 4096 },
    sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
    signature: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

export function registerUpgradeRoutes(app: FastifyInstance, manager: UpgradeManager, logger: Logger): void {
  app.get('/v1/versions', async () => manager.versions());

  app.post('/v1/upgrade', { schema: { body: upgradeBodySchema } }, async (req, reply) => {
    const body = req.body as UpgradeBody;
    const out = new NdjsonStream(logger);
    const run = manager.upgrade(
      { source: body.artifact, sha256: body.sha256.toLowerCase(), ...(body.signature !== undefined ? { signature: body.signature } : {}) },
      (e) => out.line(e),
    );
    return out.respond(reply, run);
  });

  app.post('/v1/rollback', async (_req, reply) => {
    const out = new NdjsonStream(logger);
    return out.respond(reply, manager.rollback((e) => out.line(e)));
  });

  app.post('/v1/reload', async (_req, reply) => {
    const out = new NdjsonStream(logger);
    return out.respond(reply, manager.reload((e) => out.line(e)));
  });
}

class NdjsonStream {
  readonly #stream = new PassThrough();
  readonly #log: Logger;

  constructor(logger: Logger) {
    this.#log = logger;
    // A caller that hung up destroys the stream; the hand-off carries on regardless.
    this.#stream.on('error', () => undefined);
  }

  line(event: ProgressEvent | FinalEvent): void {
    if (this.#stream.destroyed || this.#stream.writableEnded) return;
    this.#stream.write(`${JSON.stringify(event)}\n`);
  }

  respond(reply: FastifyReply, run: Promise<FinalEvent>): FastifyReply {
    run.then(
      (final) => {
        this.line(final);
        this.#stream.end();
      },
      (err: unknown) => {
        this.#log.error({ err }, 'hand-off request failed');
        this.line({ result: 'failed', code: 'HEARTH_ERR_INTERNAL', message: (err as Error).message, kind: 'unknown', from: '', to: '', phases: {} });
        this.#stream.end();
      },
    );
    return reply.type('application/x-ndjson').header('cache-control', 'no-store').send(this.#stream);
  }
}
