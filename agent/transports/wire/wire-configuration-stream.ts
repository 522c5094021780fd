// hearth.runtime.v1.Configuration/SubscribeConfiguration over wire: a server stream of Messages,
// the current items first, then each change. End or Cancel unsubscribe (End is answered with
// Response OK); a drain unsubscribes and answers HEARTH_ERR_SUBSCRIPTION_CLOSED.
import { randomUUID } from 'node:crypto';
import type { RuntimeApi } from '../../building-blocks/runtime-api.js';
import { HearthError } from '../../errors/hearth-error.js';
import { type GetConfigurationRequest__Output as ConfigurationRequestMsg } from '@hearth/protocol';
import { toConfigurationItems } from '../methods/configuration-methods.js';
import type { WireStreamHandler, WireStreamPort } from './wire-stream.js';

export function startConfigurationStream(port: WireStreamPort, api: RuntimeApi, first: unknown): WireStreamHandler {
  const req = first as ConfigurationRequestMsg;
  const id = randomUUID();
  let unsubscribe: (() => void) | undefined;
  let ended = false;
  const end = (answer: boolean, err?: unknown): void => {
    if (ended) return;
    ended = true;
    unsubscribe?.();
    if (answer) port.finish(err);
  };

  api.configuration
    .subscribe(port.ctx, req.storeName, req.keys, (items) => {
      // Changes are rare and small: the socket's buffer is backpressure enough here.
      if (!ended) port.send({ id, items: toConfigurationItems(items) });
    })
    .then((unsub) => {
      if (ended) unsub();
      else unsubscribe = unsub;
    })
    .catch((err: unknown) => end(true, err));

  return {
    message: () => undefined, // a server stream: the client sends nothing more
    end: () => end(true),
    cancel: () => end(false),
    drain: () => end(true, new HearthError('HEARTH_ERR_SUBSCRIPTION_CLOSED', 'this agent generation is closing the stream; resubscribe')),
  };
}
