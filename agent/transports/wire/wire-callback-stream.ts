// hearth.runtime.v1.AppCallback/Connect over wire: the app's Request carries `register`; the agent
// registers the stream with the invoke building block, answers Message{registered}, then pushes
// Message{invocation}s and matches the app's Message{result}s by id. End, Cancel or a lost
// connection close the registration (its pending invocations fail HEARTH_ERR_APP_UNAVAILABLE);
// a drain closes it and answers HEARTH_ERR_DRAINING so the app reconnects to the successor.
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
    drain: () => end(true, new HearthError('HEARTH_ERR_DRAINING', 'this agent generation is draining; reconnect the callback stream')),
  };
}
