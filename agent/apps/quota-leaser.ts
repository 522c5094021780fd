// The worker's end of the host's quota leases: a quota-lease message to the ops-agent over the
// hand-off IPC, answered by a quota-grant with the same request id.
import { randomUUID } from 'node:crypto';
import { workerMessages, type QuotaGrantMessage, type WorkerMessage } from '../../upgrade/handoff-protocol.js';
import type { LeaseGrant, LeaseRequest, QuotaLeaser } from './app-quotas.js';

export class IpcQuotaLeaser implements QuotaLeaser {
  readonly #send: (message: WorkerMessage) => Promise<void>;
  readonly #pending = new Map<string, (grant: LeaseGrant) => void>();

  constructor(send: (message: WorkerMessage) => Promise<void>) {
    this.#send = send;
  }

  lease(appId: string, request: LeaseRequest): Promise<LeaseGrant> {
    const requestId = randomUUID();
    return new Promise<LeaseGrant>((resolve, reject) => {
      this.#pending.set(requestId, resolve);
      this.#send(workerMessages.quotaLease({ requestId, app: appId, ...request })).catch((err: unknown) => {
        this.#pending.delete(requestId);
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    }).finally(() => this.#pending.delete(requestId));
  }

  /** A quota-grant from the ops-agent. Unknown ids (answered after the lease gave up) are dropped. */
  granted(m: QuotaGrantMessage): void {
    this.#pending.get(m.requestId)?.({ requests: m.requests, bytes: m.bytes, slots: m.slots });
  }
}
