// Typed configuration: read items, and watch them as an async iterator of change events that
// survives agent drains and restarts (the watch is opened again; the agent's first event after a
// reopen reports the items as they are then).
import { type ProtocolLogger as SdkLogger } from '@hearth/protocol';
import { callOptions, lifetime, type BlockContext, type RequestOptions } from './request-options.js';
import { ResubscribingStream } from './resubscribing-stream.js';
import type { GetConfigurationResponse__Output } from '@hearth/protocol';

const C = 'hearth.runtime.v1.Configuration';

export interface ConfigurationItem {
  readonly value: string;
  readonly version: string;
  readonly metadata: Record<string, string>;
  /** The key was removed; `value` is its last value. */
  readonly deleted: boolean;
}

export interface ConfigurationChange {
  /** The watch's id on the agent. */
  readonly id: string;
  readonly items: Record<string, ConfigurationItem>;
}

export interface WatchOptions {
  readonly metadata?: Record<string, string>;
  readonly signal?: AbortSignal;
}

export interface ConfigurationWatch extends AsyncIterable<ConfigurationChange> {
  close(): void;
}

export class ConfigurationClient {
  readonly #ctx: BlockContext;
  readonly #logger: SdkLogger;

  constructor(ctx: BlockContext, logger: SdkLogger) {
    this.#ctx = ctx;
    this.#logger = logger.child({ block: 'configuration' });
  }

  /** The items of `keys` (all items when empty) that exist. */
  async get(store: string, keys: readonly string[] = [], options?: RequestOptions & { metadata?: Record<string, string> }): Promise<Record<string, ConfigurationItem>> {
    const req = { storeName: store, keys, metadata: { ...options?.metadata } };
    const res = (await this.#ctx.transport.unary(`${C}/GetConfiguration`, req, callOptions(options, true))) as { items: Record<string, ConfigurationItem> } & Omit<GetConfigurationResponse__Output, 'items'>;
    return res.items;
  }

  /** Change events for `keys` (all keys when empty) until close() or the signal aborts. */
  subscribe(store: string, keys: readonly string[] = [], options: WatchOptions = {}): ConfigurationWatch {
    const req = { storeName: store, keys, metadata: { ...options.metadata } };
    const stream = new ResubscribingStream<ConfigurationChange>({
      open: () => this.#ctx.transport.stream(`${C}/SubscribeConfiguration`, req, {}),
      map: (message) => message as ConfigurationChange,
      logger: this.#logger.child({ store }),
      signal: lifetime(this.#ctx, options.signal),
    });
    return {
      close: () => stream.close(),
      [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
    };
  }
}
