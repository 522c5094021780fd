// Probing agents: one bounded ping over a fresh connection, and the choice of where calls go next.
// The local agent and every sibling are probed at the same time, so a switch costs one probe
// timeout at most — never local timeout plus sibling timeouts in a row.
import { HearthClientError, isHearthClientError } from '@hearth/protocol';
import type { SdkTransport } from '../transport.js';
import { rankByPriorityThenRtt, type SiblingEndpoint } from './sibling-list.js';

export interface ProbeOk {
  readonly transport: SdkTransport;
  readonly rttMs: number;
  readonly draining: boolean;
}

/**
 * One ping bounded by `timeoutMs` (our own timer too: a hung agent may never answer and a
 * transport's connect may not honour the ping timeout). On failure the transport is closed.
 */
export async function probe(transport: SdkTransport, timeoutMs: number): Promise<ProbeOk> {
  try {
    const result = await pingWithin(transport, timeoutMs);
    return { transport, rttMs: result.rttMs, draining: result.draining };
  } catch (err) {
    closeQuietly(transport);
    throw err;
  }
}

export async function pingWithin(transport: SdkTransport, timeoutMs: number): Promise<{ rttMs: number; draining: boolean }> {
  if (transport.ping === undefined) {
    // A transport without ping (gRPC) cannot be health-checked: trust it until a call fails.
    return { rttMs: 0, draining: false };
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HearthClientError('HEARTH_ERR_TIMEOUT', `${transport.name}: no pong within ${timeoutMs} ms`, { sent: false })),
      timeoutMs,
    );
    timer.unref();
  });
  try {
    return await Promise.race([transport.ping(timeoutMs), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function closeQuietly(transport: SdkTransport): void {
  transport.close().catch(() => undefined);
}

export type Choice =
  | { readonly kind: 'local'; readonly probe: ProbeOk }
  | { readonly kind: 'sibling'; readonly endpoint: SiblingEndpoint; readonly probe: ProbeOk };

export interface SelectInput {
  readonly local: () => SdkTransport;
  readonly siblings: readonly SiblingEndpoint[];
  readonly connectSibling: (endpoint: SiblingEndpoint) => SdkTransport;
  /** Bound on a sibling's connect + TLS handshake + ping. */
  readonly timeoutMs: number;
  /** Bound on the local probe: a Unix socket connect is instant, so this is the ping alone, and
   *  an agent slower than the heartbeat's timeout is no better on a fresh connection. */
  readonly localTimeoutMs: number;
}

export interface Selection {
  readonly choice: Choice | undefined;
  /** Why each candidate was not taken, for the log line and the AGENT_UNAVAILABLE message. */
  readonly rejected: readonly string[];
}

/**
 * Probes the local agent and every sibling in parallel. A healthy, non-draining local agent wins at
 * once (siblings still connecting are dropped); otherwise the best sibling by (priority, rtt),
 * chosen as soon as every sibling ranked at or above it has answered or failed — a hung
 * low-ranked sibling never delays a switch to a good high-ranked one. Every probe transport not
 * chosen is closed.
 */
export async function selectAgent(input: SelectInput): Promise<Selection> {
  const rejected: string[] = [];
  const note = (who: string) => (err: unknown) => {
    rejected.push(`${who}: ${describe(err)}`);
    return undefined;
  };
  const localProbe = safeProbe(input.local, input.localTimeoutMs).catch(note('local'));
  const siblings = new SiblingRace(input.siblings, (endpoint) =>
    safeProbe(() => input.connectSibling(endpoint), input.timeoutMs)
      .then((probe): Answered => ({ endpoint, rttMs: probe.rttMs, probe }))
      .catch(note(endpoint.name)),
  );

  const local = await localProbe;
  if (local && !local.draining) {
    siblings.discard(undefined);
    return { choice: { kind: 'local', probe: local }, rejected: [...rejected] };
  }
  if (local) {
    rejected.push('local: draining');
    closeQuietly(local.transport);
  }
  const best = await siblings.best();
  for (const s of siblings.drainingAnswers()) rejected.push(`${s.endpoint.name}: draining`);
  siblings.discard(best);
  // A copy: probes still running may note their failure later.
  if (!best) return { choice: undefined, rejected: [...rejected] };
  return { choice: { kind: 'sibling', endpoint: best.endpoint, probe: best.probe }, rejected: [...rejected] };
}

interface Answered {
  readonly endpoint: SiblingEndpoint;
  readonly rttMs: number;
  readonly probe: ProbeOk;
}

/** Sibling probes as they settle; picks the best as early as the ranking allows. */
class SiblingRace {
  readonly #pending = new Set<SiblingEndpoint>();
  readonly #answered: Answered[] = [];
  #wake: (() => void) | undefined;
  /** null while choosing; then the one answer kept (undefined: none), every other is closed. */
  #keep: Answered | undefined | null = null;

  /** `probe` never rejects: a failed probe resolves undefined. */
  constructor(endpoints: readonly SiblingEndpoint[], probe: (endpoint: SiblingEndpoint) => Promise<Answered | undefined>) {
    for (const endpoint of endpoints) {
      this.#pending.add(endpoint);
      void probe(endpoint).then((answer) => this.#settle(endpoint, answer));
    }
  }

  async best(): Promise<Answered | undefined> {
    for (;;) {
      const top = rankByPriorityThenRtt(this.#answered.filter((a) => !a.probe.draining))[0];
      const rankedAtOrAbove = (e: SiblingEndpoint): boolean => top === undefined || e.priority <= top.endpoint.priority;
      if (![...this.#pending].some(rankedAtOrAbove)) return top;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  drainingAnswers(): Answered[] {
    return this.#answered.filter((a) => a.probe.draining);
  }

  /** Closes every answered probe but `keep`, now and as late ones arrive. */
  discard(keep: Answered | undefined): void {
    this.#keep = keep;
    for (const a of this.#answered) if (a !== keep) closeQuietly(a.probe.transport);
  }

  #settle(endpoint: SiblingEndpoint, answer: Answered | undefined): void {
    this.#pending.delete(endpoint);
    if (answer) {
      this.#answered.push(answer);
      if (this.#keep !== null && answer !== this.#keep) closeQuietly(answer.probe.transport);
    }
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** A factory that throws synchronously (bad TLS material) counts as a failed probe. */
async function safeProbe(factory: () => SdkTransport, timeoutMs: number): Promise<ProbeOk> {
  return probe(factory(), timeoutMs);
}

export function describe(err: unknown): string {
  if (isHearthClientError(err)) return `${err.code} ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
