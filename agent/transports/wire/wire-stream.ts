// The contract between a wire session (one connection) and a streaming call on it
// (PubSub/Subscribe, Configuration/SubscribeConfiguration, AppCallback/Connect). The session owns
// frames, stream ids and the socket; a handler owns the building-block resources of one stream.
import { type MethodCodec } from '@hearth/protocol';
import type { AppBudgets } from '../../apps/app-budgets.js';
import type { CallContext, RuntimeApi } from '../../building-blocks/runtime-api.js';
import type { WireCall } from './wire-call.js';

/** The session's side of one open stream, handed to its handler. */
export interface WireStreamPort {
  readonly call: WireCall;
  readonly ctx: CallContext;
  readonly codec: MethodCodec;
  /** The worker's per-app budgets (absent in tests that run without them). */
  readonly budgets?: AppBudgets | undefined;
  /** Sends one Message (the method's response type). False: the socket is full; wait for onWritable. */
  send(message: unknown): boolean;
  /** Called once when the socket can take more after send() returned false. */
  onWritable(listener: () => void): void;
  /** Ends the stream with a Response: OK without `err`, else its coded error. Idempotent. */
  finish(err?: unknown): void;
}

/** What a streaming method does with the client's frames. */
export interface WireStreamHandler {
  /** One more client Message, decoded (one that does not decode fails the stream in the session). */
  message(request: unknown): void;
  /** The client half-closed (End). */
  end(): void;
  /** Cancel, or the connection is gone: release everything; nothing more may be sent. */
  cancel(): void;
  /**
   * The server drains: release and finish with the method's drain code. A stream that is owed
   * answers (a callback stream) may take up to graceMs before it finishes; the others finish now.
   */
  drain(graceMs: number): void;
}

/** Starts a streaming method with its first (decoded) message. */
export type WireStreamFactory = (port: WireStreamPort, api: RuntimeApi, first: unknown) => WireStreamHandler;
