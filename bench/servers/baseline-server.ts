// Entry of a forked baseline server process: starts the server named in the first IPC message,
// answers `listening`, and closes when the parent disconnects (or SIGTERM ends it).
// Each server is imported on demand so that the floor process does not load grpc-js or fastify.
import type { RunningServer } from './raw-echo-server.js';

export type BaselineKind = 'raw-echo' | 'grpc-echo' | 'fastify-echo';

export interface BaselineStart {
  type: 'start';
  kind: BaselineKind;
  socketPath: string;
  protoPath: string;
}

export type BaselineReply = { type: 'listening' } | { type: 'failed'; error: string };

function isBaselineStart(value: unknown): value is BaselineStart {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.type === 'start' && typeof v.socketPath === 'string' && typeof v.protoPath === 'string'
    && (v.kind === 'raw-echo' || v.kind === 'grpc-echo' || v.kind === 'fastify-echo');
}

async function start(message: BaselineStart): Promise<RunningServer> {
  switch (message.kind) {
    case 'raw-echo':
      return (await import('./raw-echo-server.js')).startRawEchoServer(message.socketPath);
    case 'grpc-echo':
      return (await import('./grpc-echo-server.js')).startGrpcEchoServer(message.socketPath, message.protoPath);
    case 'fastify-echo':
      return (await import('./fastify-echo-server.js')).startFastifyEchoServer(message.socketPath);
  }
}

function reply(message: BaselineReply): void {
  if (process.connected) process.send?.(message, undefined, undefined, () => undefined);
}

let running: RunningServer | null = null;

process.once('message', (message: unknown) => {
  if (!isBaselineStart(message)) {
    reply({ type: 'failed', error: 'expected a start message' });
    process.disconnect();
    return;
  }
  start(message).then((server) => {
    running = server;
    reply({ type: 'listening' });
  }, (err: unknown) => {
    reply({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.disconnect();
  });
});

process.on('disconnect', () => {
  void running?.close();
  running = null;
});
