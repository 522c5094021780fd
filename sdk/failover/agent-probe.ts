// Probing agents: one bounded ping over a fresh connection, and the choice of where calls go next.
// The local agent and every sibling are probed at the same time, so a switch costs one probe
// timeout at most — never local timeout plus sibling timeouts in a row.
import { HearthClientError, isHearthClientError } from '../errors.js';
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
 * once (siblings still connecting are dropped); otherwise the best sibling by (priority, rtt).
 * Every probe transport not chosen is closed.
 */
export async function selectAgent(input: SelectInput): Promise<Selection> {
  const rejected: string[] = [];
  const note = (who: string) => (err: unknown) => {
    rejected.push(`${who}: ${describe(err)}`);
    return undefined;
  };
  const localProbe = safeProbe(input.local, input.localTimeoutMs).catch(note('local'));
  const siblingProbes = input.siblings.map((endpoint) =>
    safeProbe(() => input.connectSibling(endpoint), input.timeoutMs)
      .then((p) => ({ endpoint, rttMs: p.rttMs, probe: p }))
      .catch(note(endpoint.name)),
  );

  const local = await localProbe;
  if (local && !local.draining) {
    void Promise.all(siblingProbes).then((all) => all.forEach((s) => s && closeQuietly(s.probe.transport)));
    return { choice: { kind: 'local', probe: local }, rejected };
  }
  if (local) {
    if (local.draining) rejected.push('local: draining');
    closeQuietly(local.transport);
  }

  const answered = (await Promise.all(siblingProbes)).filter((s) => s !== undefined);
  const healthy = answered.filter((s) => !s.probe.draining);
  for (const s of answered) if (s.probe.draining) rejected.push(`${s.endpoint.name}: draining`);
  const [best, ...rest] = rankByPriorityThenRtt(healthy);
  for (const s of [...rest, ...answered.filter((a) => a.probe.draining)]) closeQuietly(s.probe.transport);
  if (!best) return { choice: undefined, rejected };
  return { choice: { kind: 'sibling', endpoint: best.endpoint, probe: best.probe }, rejected };
}

/** A factory that throws synchronously (bad TLS material) counts as a failed probe. */
async function safeProbe(factory: () => SdkTransport, timeoutMs: number): Promise<ProbeOk> {
  return probe(factory(), timeoutMs);
}

export function describe(err: unknown): string {
  if (isHearthClientError(err)) return `${err.code} ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
