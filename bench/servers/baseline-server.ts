// Entry of a forked baseline server process: starts the server named in the first IPC message,
// answers `listening`, and closes when the parent disconnects (or SIGTERM ends it).
// Each server is imported on demand so that the floor process does not load grpc-js or fastify.
import type { RunningServer } from './raw-echo-server.js';
import { serveForked, type ServerReply } from './serve-forked.js';

export type BaselineKind = 'raw-echo' | 'grpc-echo' | 'fastify-echo' | 'http-echo' | 'frame-echo';

const KINDS: readonly string[] = ['raw-echo', 'grpc-echo', 'fastify-echo', 'http-echo', 'frame-echo'] satisfies BaselineKind[];

export interface BaselineStart {
  type: 'start';
  kind: BaselineKind;
  socketPath: string;
  protoPath: string;
}

export type BaselineReply = ServerReply;

function isBaselineStart(value: unknown): value is BaselineStart {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.type === 'start' && typeof v.socketPath === 'string' && typeof v.protoPath === 'string'
    && typeof v.kind === 'string' && KINDS.includes(v.kind);
}

async function start(message: BaselineStart): Promise<RunningServer> {
  switch (message.kind) {
    case 'raw-echo':
      return (await import('./raw-echo-server.js')).startRawEchoServer(message.socketPath);
    case 'grpc-echo':
      return (await import('./grpc-echo-server.js')).startGrpcEchoServer(message.socketPath, message.protoPath);
    case 'fastify-echo':
      return (await import('./fastify-echo-server.js')).startFastifyEchoServer(message.socketPath);
    case 'http-echo':
      return (await import('./http-echo-server.js')).startHttpEchoServer(message.socketPath);
    case 'frame-echo':
      return (await import('./node-relay.js')).startFrameEchoServer(message.socketPath);
  }
}

serveForked(isBaselineStart, start);
