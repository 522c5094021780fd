// hearth.runtime.v1.AppCallback/Connect over wire: the app's Request carries `register`; the agent
// registers the stream with the invoke building block, answers Message{registered}, then pushes
// Message{invocation}s and matches the app's Message{result}s by id. End, Cancel or a lost
// connection close the registration (its pending invocations fail HEARTH_ERR_APP_UNAVAILABLE).
// A drain is gentler, since those invocations already run in the app: Message{draining} (the app
// opens a replacement stream, on a new connection after our Goaway, so it reaches the successor),
// no new invocation here, results still matched until every pending one is answered or the grace
// ends; then the stream finishes with HEARTH_ERR_DRAINING.
import type { CallbackRegistration, RuntimeApi } from '../../building-blocks/runtime-api.js';
import { HearthError } from '../../errors/hearth-error.js';
import { toCallbackOptions, toInvocationMsg, toOutcome, type CallbackFromAppMsg, type CallbackToAppMsg } from '../methods/callback-messages.js';
import type { WireStreamHandler, WireStreamPort } from './wire-stream.js';

export function startCallbackStream(port: WireStreamPort, api: RuntimeApi, first: unknown): WireStreamHandler {
  const msg = first as CallbackFromAppMsg;
  if (msg.message !== 'register' || !msg.register) {
    throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'the first message of a callback stream must be `register`');
  }
  const log = port.ctx.logger;
  let ended = false;
  let draining = false;
  const send = (message: CallbackToAppMsg): void => {
    // Invocations are bounded by the instance's concurrency: the socket's buffer holds them.
    port.send(message);
  };
  const registration: CallbackRegistration = api.invoke.registerCallback(
    port.ctx,
    {
      push: (invocation) => {
        if (ended) throw new Error('the callback stream has ended');
        send({ invocation: toInvocationMsg(invocation) });
      },
    },
    toCallbackOptions(msg.register),
  );
  send({ registered: { instanceId: registration.instanceId } });

  const end = (answer: boolean, err?: unknown): void => {
    if (ended) return;
    ended = true;
    registration.close();
    if (answer) port.finish(err);
  };

  return {
    message: (request) => {
      if (ended) return;
      const m = request as CallbackFromAppMsg;
      if (m.message === 'result' && m.result) {
        registration.complete(m.result.id, toOutcome(m.result));
        return;
      }
      log.info({ message: m.message }, 'callback stream: only `result` may follow `register`');
      end(true, new HearthError('HEARTH_ERR_INVALID_ARGUMENT', '`register` may only be the first message; later ones are `result`'));
    },
    end: () => end(true),
    cancel: () => end(false),
    drain: (graceMs) => {
      if (ended || draining) return;
      draining = true;
      if (graceMs > 0) {
        send({ draining: { graceMs } });
        log.info({ instance: registration.instanceId, graceMs }, 'callback stream draining: the app was told to connect again');
      }
      // Never rejects: it resolves when the pending invocations settled or the grace is over.
      void registration.drain(graceMs).then(() => end(true, drainingError()));
    },
  };
}

function drainingError(): HearthError {
  return new HearthError('HEARTH_ERR_DRAINING', 'this agent generation is draining; reconnect the callback stream');
}
