// The streaming methods the wire server serves, by path, with their metrics names.
import { CALLBACK_API, CALLBACK_CONNECT_PATH } from '../methods/callback-messages.js';
import { startCallbackStream } from './wire-callback-stream.js';
import { startConfigurationStream } from './wire-configuration-stream.js';
import type { WireStreamFactory } from './wire-stream.js';
import { startSubscribe } from './wire-subscribe.js';

export interface StreamMethod {
  readonly api: string;
  readonly start: WireStreamFactory;
}

export const STREAM_METHODS: Readonly<Record<string, StreamMethod | undefined>> = {
  'hearth.runtime.v1.PubSub/Subscribe': { api: 'pubsub.subscribe', start: startSubscribe },
  'hearth.runtime.v1.Configuration/SubscribeConfiguration': { api: 'configuration.subscribe', start: startConfigurationStream },
  [CALLBACK_CONNECT_PATH]: { api: CALLBACK_API, start: startCallbackStream },
};
