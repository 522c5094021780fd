// hearth.runtime.v1.AppCallback/Connect: how an app receives invocations without opening a port.
// The app opens this bidi stream and sends `register`; the agent answers `registered`, then
// pushes `invocation`s, each answered by one `result` with the same id. The stream is one
// CallbackRegistration of the invoke API: whatever ends the stream (the app half-closing or
// cancelling, a protocol error) closes the registration, so invocations still pending on it fail
// with HEARTH_ERR_APP_UNAVAILABLE at once instead of waiting for their deadline.
// The server closing (an upgrade, a reload) is gentler, because those invocations already run in
// the app: the agent writes `draining` (the app opens a replacement stream, which reaches the next
// generation), takes no new invocation here, keeps accepting results until every pending one is
// answered or the grace ends, and only then ends the stream with UNAVAILABLE + HEARTH_ERR_DRAINING.
import type * as grpc from '@grpc/grpc-js';
import type { CallbackInvocation, CallbackRegistration, CallbackSink } from '../../building-blocks/runtime-api.js';
import { HearthError } from '../../errors/hearth-error.js';
import {
  CALLBACK_API,
  toCallbackOptions,
  toInvocationMsg,
  toOutcome,
  type CallbackFromAppMsg,
  type CallbackToAppMsg,
} from '../methods/callback-messages.js';
import type { TransportDeps } from '../transport-deps.js';
import { GrpcCall } from './grpc-call.js';
import type { ActiveStream, StreamRegistry } from './stream-registry.js';
import { messageBytes, type MalformedMessage } from './wire-codec.js';

type ConnectCall = grpc.ServerDuplexStream<CallbackFromAppMsg | MalformedMessage, CallbackToAppMsg>;

export function drainingError(): HearthError {
  return new HearthError('HEARTH_ERR_DRAINING', 'this agent generation is draining: open the callback stream again');
}

export function callbackService(deps: TransportDeps, streams: StreamRegistry): grpc.handleBidiStreamingCall<CallbackFromAppMsg | MalformedMessage, CallbackToAppMsg> {
  return (call: ConnectCall) => {
    const c = new GrpcCall(deps, CALLBACK_API, call.metadata);
    const log = c.ctx.logger;
    let registration: CallbackRegistration | undefined;
    let ended = false;
    let draining = false;

    /** Closes the registration first (pending invocations fail now), then ends the stream. */
    const end = (how: { err: unknown } | 'ok' | 'cancelled'): void => {
      if (ended) return;
      ended = true;
      streams.delete(entry);
      registration?.close();
      if (how === 'cancelled') return c.cancelled();
      if (how === 'ok') {
        c.ok();
        call.end(c.trailers());
        return;
      }
      call.emit('error', c.fail(how.err));
    };
    const entry: ActiveStream = {
      shutdown: async (graceMs) => {
        if (ended || draining) return;
        draining = true;
        const reg = registration;
        if (reg !== undefined && graceMs > 0) {
          call.write({ draining: { graceMs } });
          log.info({ instance: reg.instanceId, graceMs }, 'callback stream draining: the app was told to connect again');
          await reg.drain(graceMs);
        }
        end({ err: drainingError() });
      },
    };

    const sink: CallbackSink = {
      push: (inv: CallbackInvocation): void => {
        // The instance turns this into HEARTH_ERR_APP_UNAVAILABLE for the one invocation.
        if (ended || call.cancelled || call.destroyed) throw new Error('the callback stream has ended');
        const message: CallbackToAppMsg = { invocation: toInvocationMsg(inv) };
        // No backpressure of our own: the instance's concurrency bounds what is unanswered.
        call.write(message, () => c.addBytesOut(messageBytes(message)));
      },
    };

    const register = (msg: CallbackFromAppMsg): void => {
      if (msg.message !== 'register' || !msg.register) {
        throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'the first message of a callback stream must be `register`');
      }
      const reg = deps.api.invoke.registerCallback(c.ctx, sink, toCallbackOptions(msg.register));
      registration = reg;
      call.write({ registered: { instanceId: reg.instanceId } });
      log.info({ instance: reg.instanceId, methods: msg.register.methods.slice(0, 32) }, 'callback stream open');
    };

    const answer = (reg: CallbackRegistration, msg: CallbackFromAppMsg): void => {
      if (msg.message !== 'result' || !msg.result) {
        throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', '`register` may only be the first message of a callback stream; later ones are `result`');
      }
      reg.complete(msg.result.id, toOutcome(msg.result));
    };

    const onMessage = (msg: CallbackFromAppMsg | MalformedMessage): void => {
      if (ended) return;
      try {
        const m = c.wellFormed(msg);
        if (registration === undefined) register(m);
        else {
          c.chargeMessage(m);
          answer(registration, m);
        }
      } catch (err) {
        end({ err });
      }
    };

    try {
      c.authenticate();
      c.holdStream();
      if (!streams.add(entry)) throw drainingError();
    } catch (err) {
      end({ err });
      return;
    }
    call.on('data', onMessage);
    // Half-close: the app answers nothing more, so nothing more is pushed to it.
    call.on('end', () => end('ok'));
    call.on('cancelled', () => end('cancelled'));
  };
}
