// What a hostile app does to the agent it shares, for the blast-radius rows
// (scenarios/blast-radius.ts): each abuse runs in the bench parent for a given time, against the
// agent's real sockets, and reports what came of it (how much it sent, what the agent refused and
// with which code). The floods of requests run in forked load workers instead (closed loop,
// load-generator.ts); these are the abuses that hold things rather than spend CPU: streams that
// never read, subscriptions nobody consumes, connections, crafted payloads, and TLS handshakes
// never begun on the sibling port. The calls among them are paced (a few hundred a second): the rows
// measure what the abuse makes the agent hold or parse, not what any flood of calls costs (that is
// what quotas are for, and what the flood rows measure).
import http from 'node:http';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { encodeFrame, FrameType, METHODS, runtimeMethods } from '@hearth/protocol';
import type { HearthApp, HearthInstance } from '../harness/hearth-instance.js';

export interface AbuseContext {
  readonly hearth: HearthInstance;
  /** The sibling (TLS) port of the agent. */
  readonly siblingPort: number;
}

export interface Abuse {
  readonly id: string;
  /** What it does, for the row's scenario column. */
  readonly title: string;
  /** The apps it uses (declared in the agent's config). */
  readonly apps: readonly HearthApp[];
  /** Runs for `durationMs`, then cleans up after itself; resolves with what came of it. */
  run(ctx: AbuseContext, durationMs: number): Promise<string>;
}

const KIB = 1024;
const MIB = 1024 * KIB;

const app = (id: string, extra: Partial<HearthApp> = {}): HearthApp => ({ id, token: `bench-token-${id}-0123456789abcdef`, ...extra });
const FEEDER = app('feeder');

interface Reply {
  status: number;
  body: Buffer;
}

/** One HTTP call on `agent`'s connections; never rejects (a failure is status 0). */
function call(socketPath: string, agent: http.Agent, a: HearthApp, method: string, urlPath: string, body?: Buffer | string | object,
  contentType = 'application/json'): Promise<Reply> {
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) || typeof body === 'string' ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
  return new Promise((resolve) => {
    const req = http.request({
      socketPath, agent, method, path: urlPath,
      headers: { host: 'hearth', authorization: `Bearer ${a.token}`, ...(payload === undefined ? {} : { 'content-type': contentType, 'content-length': payload.length }) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', () => resolve({ status: 0, body: Buffer.alloc(0) }));
    });
    req.on('error', () => resolve({ status: 0, body: Buffer.alloc(0) }));
    req.end(payload);
  });
}

/** Tally of outcomes by HTTP status or error code. */
class Tally {
  readonly #counts = new Map<string, number>();
  add(key: string | number, n = 1): void {
    this.#counts.set(String(key), (this.#counts.get(String(key)) ?? 0) + n);
  }
  get(key: string | number): number {
    return this.#counts.get(String(key)) ?? 0;
  }
  toString(): string {
    return [...this.#counts].map(([k, n]) => `${k}: ${n.toLocaleString('en-US')}`).join(', ') || 'nothing';
  }
}

const errorCodeOf = (r: Reply): string => {
  try {
    return (JSON.parse(r.body.toString()) as { errorCode?: string }).errorCode ?? String(r.status);
  } catch {
    return String(r.status);
  }
};

/** Publishes `bytes` every `everyMs` to `topic` as app feeder until `until`. */
async function feed(hearth: HearthInstance, topic: string, bytes: number, everyMs: number, until: number, tally: Tally): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const payload = Buffer.alloc(bytes, 'm');
  try {
    while (Date.now() < until) {
      const r = await call(hearth.socket(FEEDER.id, 'http'), agent, FEEDER, 'POST', `/v1.0/publish/default/${topic}?metadata.rawPayload=true`, payload, 'application/octet-stream');
      tally.add(r.status === 204 ? 'published' : `publish ${errorCodeOf(r)}`);
      await delay(everyMs);
    }
  } finally {
    agent.destroy();
  }
}

/** Three wire subscriptions that read their `ready` and then never read again, while 64 KiB messages arrive at 50/s. */
const unreadSubscribers: Abuse = {
  id: 'unread-subscribers',
  title: '3 wire subscriptions that never read, 64 KiB messages published at 50/s (3.2 MB/s of deliveries due)',
  apps: [app('reader'), FEEDER],
  async run({ hearth }, durationMs) {
    const until = Date.now() + durationMs;
    const codec = runtimeMethods().get(METHODS.subscribe);
    if (codec === undefined) throw new Error('the protocol has no Subscribe method');
    const reader = this.apps[0] as HearthApp;
    const sockets: net.Socket[] = [];
    const tally = new Tally();
    try {
      for (let i = 0; i < 3; i++) {
        const s = net.createConnection(hearth.socket(reader.id, 'wire'));
        s.on('error', () => undefined);
        sockets.push(s);
        const body = codec.serializeRequest({ initial: { pubsubName: 'default', topic: 'blast.unread', subscription: `reader${i}`, maxInFlight: 1000, ackDeadlineMs: 600_000 } });
        s.write(encodeFrame({ type: FrameType.Request, streamId: 1, header: { method: METHODS.subscribe, token: reader.token }, body }));
        let received = 0;
        s.on('data', (d: Buffer) => {
          received += d.length;
          if (received > 0) s.pause();
        });
      }
      await feed(hearth, 'blast.unread', 64 * KIB, 20, until, tally);
    } finally {
      for (const s of sockets) s.destroy();
    }
    return tally.toString();
  },
};

/** A new pull subscription name on every call (past budgets.subscriptions: refused), with the topic fed meanwhile. */
const subscriptionSpam: Abuse = {
  id: 'subscription-spam',
  title: 'a pull with a new subscription name 500 times a second, while its topic is published to at 50/s',
  apps: [app('spammer'), FEEDER],
  async run({ hearth }, durationMs) {
    const until = Date.now() + durationMs;
    const spammer = this.apps[0] as HearthApp;
    const tally = new Tally();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const spam = async (): Promise<void> => {
      for (let i = 0; Date.now() < until; i++) {
        const r = await call(hearth.socket(spammer.id, 'http'), agent, spammer, 'POST', '/v1.0-hearth/subscriptions/default/blast.spam/pull',
          { subscription: `s${Date.now()}-${i}`, waitMs: 0 });
        tally.add(r.status === 200 ? 'pulled' : errorCodeOf(r));
        await delay(2);
      }
    };
    try {
      await Promise.all([spam(), feed(hearth, 'blast.spam', 256, 20, until, tally)]);
    } finally {
      agent.destroy();
    }
    return tally.toString();
  },
};

/** Holds as many wire connections as it can (400 at a time), reopening any the agent closes. */
const connectionHoarding: Abuse = {
  id: 'connection-hoarding',
  title: '400 wire connections held open at all times (reopened as the agent refuses or closes them), none used',
  apps: [app('hoarder')],
  async run({ hearth }, durationMs) {
    const hoarder = this.apps[0] as HearthApp;
    const until = Date.now() + durationMs;
    const tally = new Tally();
    const open = new Set<net.Socket>();
    const connect = (): void => {
      if (Date.now() >= until) return;
      const s = net.createConnection(hearth.socket(hoarder.id, 'wire'));
      open.add(s);
      tally.add('opened');
      s.on('data', (d: Buffer) => {
        if (d.includes('HEARTH_ERR_RESOURCE_EXHAUSTED')) tally.add('refused RESOURCE_EXHAUSTED');
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        open.delete(s);
        setTimeout(connect, 50).unref();
      });
    };
    for (let i = 0; i < 400; i++) connect();
    await delay(Math.max(0, until - Date.now()));
    for (const s of open) s.destroy();
    return tally.toString();
  },
};

/** Publishes 10 KB of nested brackets, oversize bodies and deeply nested JSON, while another app pulls the topic. */
const craftedPayloads: Abuse = {
  id: 'crafted-payloads',
  title: 'publishes 10 KB of nested brackets (pulled over HTTP by another app), sends 5 MiB bodies and 10,000-deep JSON, 30 of each a second',
  apps: [app('crafter'), app('auditor')],
  async run({ hearth }, durationMs) {
    const [crafter, auditor] = this.apps as [HearthApp, HearthApp];
    const until = Date.now() + durationMs;
    const tally = new Tally();
    const agents = [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })] as const;
    const sock = (a: HearthApp): string => hearth.socket(a.id, 'http');
    const nested = '['.repeat(5_000) + ']'.repeat(5_000);
    const oversize = Buffer.alloc(5 * MIB, 'o');
    const deep = `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const craft = async (): Promise<void> => {
      for (let i = 0; Date.now() < until; i++) {
        const r = i % 3 === 0
          ? await call(sock(crafter), agents[0], crafter, 'POST', '/v1.0/publish/default/blast.feed?metadata.rawPayload=true', nested)
          : i % 3 === 1
            ? await call(sock(crafter), agents[0], crafter, 'POST', '/v1.0/state/default', oversize)
            : await call(sock(crafter), agents[0], crafter, 'POST', '/v1.0/state/default', deep);
        tally.add(r.status === 204 ? 'published' : r.status === 0 ? 'connection closed by the agent' : errorCodeOf(r));
        await delay(11);
      }
    };
    const audit = async (): Promise<void> => {
      while (Date.now() < until) {
        const r = await call(sock(auditor), agents[1], auditor, 'POST', '/v1.0-hearth/subscriptions/default/blast.feed/pull', { max: 32, waitMs: 200 });
        if (r.status !== 200) {
          tally.add(`auditor pull ${errorCodeOf(r)}`);
          continue;
        }
        const got = (JSON.parse(r.body.toString()) as { deliveries: { deliveryId: string; dataBase64?: string }[] }).deliveries;
        tally.add('auditor got (base64)', got.filter((d) => d.dataBase64 !== undefined).length);
        if (got.length > 0) await call(sock(auditor), agents[1], auditor, 'POST', '/v1.0-hearth/subscriptions/default/blast.feed/ack', { deliveryIds: got.map((d) => d.deliveryId) });
      }
    };
    try {
      await Promise.all([craft(), audit()]);
    } finally {
      agents.forEach((a) => a.destroy());
    }
    return tally.toString();
  },
};

/** TCP connections to the sibling port from 16 loopback addresses that never send a ClientHello. */
const preTlsFlood: Abuse = {
  id: 'pre-tls-flood',
  title: '1,280 TCP connections to the sibling port from 16 loopback addresses, no TLS ClientHello ever sent (reopened when closed)',
  apps: [],
  async run({ siblingPort }, durationMs) {
    const until = Date.now() + durationMs;
    const tally = new Tally();
    const open = new Set<net.Socket>();
    const connect = (address: string): void => {
      if (Date.now() >= until) return;
      const s = net.createConnection({ host: '127.0.0.1', port: siblingPort, localAddress: address });
      open.add(s);
      tally.add('opened');
      s.on('error', () => undefined);
      s.on('close', () => {
        open.delete(s);
        tally.add('closed by the agent');
        setTimeout(() => connect(address), 50).unref();
      });
    };
    for (let a = 0; a < 16; a++) for (let i = 0; i < 80; i++) connect(`127.0.0.${a + 2}`);
    await delay(Math.max(0, until - Date.now()));
    for (const s of [...open]) {
      s.removeAllListeners('close');
      s.destroy();
    }
    return tally.toString();
  },
};

export const abuses: readonly Abuse[] = [unreadSubscribers, subscriptionSpam, connectionHoarding, craftedPayloads, preTlsFlood];
