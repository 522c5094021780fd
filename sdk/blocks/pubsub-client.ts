// Typed pub/sub: publish, and subscribe as an async iterator of messages the app acks or nacks.
// The subscription survives agent drains and restarts (ResubscribingStream); an ack travels on the
// stream that delivered the message, so a message whose stream is gone before its ack is simply
// redelivered — at-least-once, never lost.
import { encodeValue, payload, type Payload, type Value } from '../payload.js';
import { type ProtocolLogger as SdkLogger } from '@hearth/protocol';
import type { SdkStream } from '../transport.js';
import { callOptions, lifetime, type BlockContext, type RequestOptions } from './request-options.js';
import { ResubscribingStream } from './resubscribing-stream.js';
import type { Delivery__Output as DeliveryMsg, PublishResponse__Output, SubscribeResponse__Output } from '@hearth/protocol';

const P = 'hearth.runtime.v1.PubSub';

export interface PublishOptions extends RequestOptions {
  readonly contentType?: string;
  readonly metadata?: Record<string, string>;
  /** Publish the bytes as they are instead of wrapping them in a CloudEvents envelope. */
  readonly raw?: boolean;
}

export interface SubscribeOptions {
  /** Consumer group within the app; defaults to the topic. */
  readonly subscription?: string;
  readonly ackDeadlineMs?: number;
  readonly maxDeliveryAttempts?: number;
  readonly deadLetterTopic?: string;
  readonly maxInFlight?: number;
  readonly metadata?: Record<string, string>;
  /** Aborting ends the subscription (like close()). */
  readonly signal?: AbortSignal;
}

export interface Message extends Payload {
  readonly deliveryId: string;
  readonly messageId: string;
  readonly topic: string;
  readonly pubsubName: string;
  /** 1 on first delivery, then 2, 3, … */
  readonly attempt: number;
  readonly metadata: Record<string, string>;
  /** Done with it: it will not be delivered again. */
  ack(): void;
  /** Redeliver it, no sooner than `delayMs` from now. */
  nack(delayMs?: number): void;
}

export interface Subscription extends AsyncIterable<Message> {
  /** Resolves when the agent registered the subscription the first time. */
  readonly ready: Promise<void>;
  /** Ends the subscription; unacked messages are redelivered to other subscribers later. */
  close(): void;
}


export class PubSubClient {
  readonly #ctx: BlockContext;
  readonly #logger: SdkLogger;

  constructor(ctx: BlockContext, logger: SdkLogger) {
    this.#ctx = ctx;
    this.#logger = logger.child({ block: 'pubsub' });
  }

  /** Returns the message id. Not replayed on failover (a duplicate would be a second message). */
  async publish(pubsubName: string, topic: string, data: Value, options: PublishOptions = {}): Promise<string> {
    const encoded = encodeValue(data, options.contentType);
    const metadata: Record<string, string> = { ...options.metadata };
    if (options.raw) metadata.rawPayload = 'true';
    if (options.traceparent) metadata.traceparent = options.traceparent;
    const request = { pubsubName, topic, data: encoded.data, dataContentType: encoded.contentType, metadata };
    const res = (await this.#ctx.transport.unary(`${P}/Publish`, request, callOptions(options, false))) as PublishResponse__Output;
    return res.messageId;
  }

  subscribe(pubsubName: string, topic: string, options: SubscribeOptions = {}): Subscription {
    const initial = {
      pubsubName,
      topic,
      subscription: options.subscription ?? '',
      ackDeadlineMs: options.ackDeadlineMs ?? 0,
      maxDeliveryAttempts: options.maxDeliveryAttempts ?? 0,
      deadLetterTopic: options.deadLetterTopic ?? '',
      maxInFlight: options.maxInFlight ?? 0,
      metadata: { ...options.metadata },
    };
    let markReady!: () => void;
    let failReady!: (err: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    ready.catch(() => undefined);
    const stream = new ResubscribingStream<Message>({
      open: () => this.#ctx.transport.stream(`${P}/Subscribe`, { initial }, {}),
      map: (message, s) => {
        const m = message as SubscribeResponse__Output;
        if (m.delivery) return toMessage(m.delivery, s);
        if (m.ready) markReady();
        return undefined;
      },
      logger: this.#logger.child({ topic, pubsubName }),
      signal: lifetime(this.#ctx, options.signal),
    });
    // A subscription refused outright (topic not allowed, wrong token) fails `ready` too.
    const iterator = stream[Symbol.asyncIterator]();
    let consumed = false;
    return {
      ready,
      close: () => {
        stream.close();
        failReady(new Error('the subscription was closed before it was ready'));
      },
      [Symbol.asyncIterator]: () => {
        if (consumed) throw new Error('a Subscription can be iterated once');
        consumed = true;
        return {
          next: async () => {
            try {
              return await iterator.next();
            } catch (err) {
              failReady(err);
              throw err;
            }
          },
        };
      },
    };
  }
}

function toMessage(d: DeliveryMsg, stream: SdkStream): Message {
  return payload<Omit<Message, keyof Payload>>(d.data, d.dataContentType, {
    deliveryId: d.deliveryId,
    messageId: d.messageId,
    topic: d.topic,
    pubsubName: d.pubsubName,
    attempt: d.attempt,
    metadata: d.metadata,
    ack: () => stream.send({ ack: { deliveryId: d.deliveryId } }),
    nack: (delayMs = 0) => stream.send({ nack: { deliveryId: d.deliveryId, delayMs } }),
  });
}
