// DeliveryQueue (agent/transports/methods/delivery-queue.ts) against AppBudgets: a stream paused
// because its *app* is over budgets.bufferedBytes — the bytes held by another of its streams — is
// resumed when that other stream drains (a broker with no periodic retry, Kafka's, would otherwise
// never claim for it again); bytes handed to the transport count until it says they went out.
import test from 'ava';
import pino from 'pino';
import { AppBudgets } from '../../agent/apps/app-budgets.js';
import type { Delivery } from '../../agent/building-blocks/runtime-api.js';
import type { AppConfig } from '../../agent/config/load-config.js';
import { DeliveryQueue } from '../../agent/transports/methods/delivery-queue.js';

const KIB = 1024;
const app = { id: 'a', budgets: { bufferedBytesPerStream: 64 * KIB, bufferedBytes: 96 * KIB } } as unknown as AppConfig;

function delivery(bytes: number): Delivery {
  return { deliveryId: '1', messageId: 'm', topic: 't', pubsubName: 'p', attempt: 1, contentType: 'x', metadata: {}, data: Buffer.alloc(bytes) };
}

/** A transport that takes everything but says it went out only when told (a client not reading). */
class SlowTransport {
  readonly unsent: (() => void)[] = [];
  write = (_d: Delivery, sent: () => void): boolean => {
    this.unsent.push(sent);
    return true;
  };
  flush(): void {
    for (const sent of this.unsent.splice(0)) sent();
  }
}

function queueOn(budgets: AppBudgets, transport: SlowTransport): { queue: DeliveryQueue; resumed: () => number } {
  let resumed = 0;
  const queue = new DeliveryQueue({ app, budgets, write: transport.write, onWritable: () => undefined, logger: pino({ level: 'silent' }) });
  queue.attach({ resume: () => { resumed += 1; } }, 30_000);
  queue.start();
  return { queue, resumed: () => resumed };
}

test('bytes written but not yet sent count against both budgets', (t) => {
  const budgets = new AppBudgets();
  const transport = new SlowTransport();
  const { queue } = queueOn(budgets, transport);
  queue.deliver(delivery(40 * KIB));
  queue.deliver(delivery(40 * KIB));
  t.true(queue.credit.paused(), 'over the stream budget with nothing queued: all of it in the transport');
  t.true(budgets.held('a').bufferedBytes >= 80 * KIB);
  transport.flush();
  t.false(queue.credit.paused());
  t.is(budgets.held('a').bufferedBytes, 0);
});

test('a stream paused by the app-wide budget resumes when another stream of the app drains', (t) => {
  const budgets = new AppBudgets();
  const busy = new SlowTransport();
  const a = queueOn(budgets, busy);
  const b = queueOn(budgets, new SlowTransport());
  a.queue.deliver(delivery(50 * KIB));
  a.queue.deliver(delivery(50 * KIB)); // the app holds 100 KiB > 96 KiB, all on stream a
  t.true(b.queue.credit.paused(), 'b holds nothing, but its app is over budget');
  const before = b.resumed();
  busy.flush(); // a's client reads
  t.is(b.resumed(), before + 1, 'b was told to claim again');
  t.false(b.queue.credit.paused());
});
