// Entry of a forked process of the Node relay anchor (servers/node-relay.ts): the entry or the
// relay hop, named in the first IPC message; the frame echo behind them is a baseline
// (baseline-server.ts). Closes when the parent disconnects (or SIGTERM ends it).
import { startRelayEntry, startRelayHop } from './node-relay.js';
import type { RunningServer } from './raw-echo-server.js';
import { serveForked } from './serve-forked.js';

export type RelayStart =
  | { type: 'start'; role: 'relay'; port: number; certFile: string; keyFile: string; echoSocket: string }
  | { type: 'start'; role: 'entry'; socketPath: string; port: number; caFile: string };

function isRelayStart(value: unknown): value is RelayStart {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  if (v.type !== 'start' || typeof v.port !== 'number') return false;
  if (v.role === 'relay') return typeof v.certFile === 'string' && typeof v.keyFile === 'string' && typeof v.echoSocket === 'string';
  return v.role === 'entry' && typeof v.socketPath === 'string' && typeof v.caFile === 'string';
}

function start(message: RelayStart): Promise<RunningServer> {
  return message.role === 'relay'
    ? startRelayHop(message.port, message.certFile, message.keyFile, message.echoSocket)
    : startRelayEntry(message.socketPath, message.port, message.caFile);
}

serveForked(isRelayStart, start);
