// A PubSub.Subscribe stream driven from a test: send `initial`, await `ready`, take deliveries in
// order, ack/nack them, and see how the stream ended (status + hearth-error-code).
import * as grpc from '@grpc/grpc-js';
import { callError, type CallError, type DeliveryMsg, type GrpcClients, type Msg, type SubscribeResponse } from './grpc-client.js';

/** How long next() waits before failing the test instead of hanging it (not a timing assertion). */
const NEXT_TIMEOUT_MS = 15_000;

export interface StreamEnd {
  readonly code: grpc.status;
  readonly hearthCode: string | undefined;
  readonly details: string;
}

export class TestSubscription {
  readonly stream: grpc.ClientDuplexStream<Msg, SubscribeResponse>;
  /** The subscription name from `ready`; rejects if the stream ends first. */
  readonly ready: Promise<string>;
  /** Resolves when the stream ends, with its status (OK included). */
  readonly ended: Promise<StreamEnd>;
  readonly #deliveries: DeliveryMsg[] = [];
  readonly #waiters: ((d: DeliveryMsg | Error) => void)[] = [];
  #end: StreamEnd | undefined;

  constructor(clients: GrpcClients, initial: Msg | null, metadata?: grpc.Metadata) {
    this.stream = clients.pubsub.Subscribe(metadata);
    let onReady!: (s: string) => void;
    let onNotReady!: (e: Error) => void;
    this.ready = new Promise<string>((resolve, reject) => {
      onReady = resolve;
      onNotReady = reject;
    });
    this.ready.catch(() => undefined); // a test that never awaits ready must not crash on it
    this.ended = new Promise<StreamEnd>((resolve) => {
      const finish = (end: StreamEnd): void => {
        if (this.#end) return;
        this.#end = end;
        onNotReady(new Error(`stream ended: ${end.hearthCode ?? grpc.status[end.code]} ${end.details}`));
        for (const w of this.#waiters.splice(0)) w(new Error(`stream ended: ${end.hearthCode ?? grpc.status[end.code]}`));
        resolve(end);
      };
      this.stream.on('error', (err: unknown) => {
        const e: CallError = callError(err);
        finish({ code: e.code, hearthCode: e.hearthCode, details: e.details });
      });
      this.stream.on('status', (s: grpc.StatusObject) => {
        const v = s.metadata.get('hearth-error-code')[0];
        if (s.code === grpc.status.OK) finish({ code: s.code, hearthCode: typeof v === 'string' ? v : undefined, details: s.details });
      });
    });
    this.stream.on('data', (res: SubscribeResponse) => {
      if (res.response === 'ready' && res.ready) onReady(res.ready.subscription);
      else if (res.response === 'delivery' && res.delivery) {
        const w = this.#waiters.shift();
        if (w) w(res.delivery);
        else this.#deliveries.push(res.delivery);
      }
    });
    if (initial !== null) this.stream.write({ initial });
  }

  /** The next delivery, in arrival order. */
  next(): Promise<DeliveryMsg> {
    const d = this.#deliveries.shift();
    if (d) return Promise.resolve(d);
    if (this.#end) return Promise.reject(new Error('stream ended'));
    return new Promise<DeliveryMsg>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error('no delivery within the test timeout'));
      }, NEXT_TIMEOUT_MS);
      const waiter = (x: DeliveryMsg | Error): void => {
        clearTimeout(timer);
        if (x instanceof Error) reject(x);
        else resolve(x);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Deliveries until one matches (earlier ones are acked so they do not come back). */
  async nextMatching(match: (d: DeliveryMsg) => boolean): Promise<DeliveryMsg> {
    for (;;) {
      const d = await this.next();
      if (match(d)) return d;
      this.ack(d.deliveryId);
    }
  }

  ack(deliveryId: string): void {
    this.stream.write({ ack: { deliveryId } });
  }

  nack(deliveryId: string, delayMs = 0): void {
    this.stream.write({ nack: { deliveryId, delayMs } });
  }

  /** Half-close: the agent ends the stream with OK. */
  async end(): Promise<StreamEnd> {
    this.stream.end();
    return this.ended;
  }

  /** Cancel as a client going away would; unacked deliveries go back to the group. */
  cancel(): void {
    this.stream.cancel();
  }
}

export function subscribe(clients: GrpcClients, initial: Msg, metadata?: grpc.Metadata): TestSubscription {
  return new TestSubscription(clients, initial, metadata);
}
