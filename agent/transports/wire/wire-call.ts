// The wire server's view of the per-call core (../call-core.ts): the request id, deadline and trace
// context come from the frame header, the outcome goes back as a Response header (coded error
// fields, `detail.<name>` metadata), and the caller is a principal the connection established.
import type { WireHeader } from '@hearth/protocol';
import type { AppBudgets } from '../../apps/app-budgets.js';
import type { AppConfig } from '../../config/load-config.js';
import type { HearthError } from '../../errors/hearth-error.js';
import { CallCore, deadlineFrom, type CallCoreDeps } from '../call-core.js';

/** Who sent a Request, as the server's authority established it. */
export type WirePrincipal =
  /** An app (its token checked): the call runs as that app. */
  | { readonly kind: 'app'; readonly app: AppConfig }
  /** A trusted peer (sibling agent, other worker) forwarding an invocation of `callerAppId`. */
  | { readonly kind: 'agent'; readonly callerAppId: string; readonly scope: 'host' | 'worker' };

export type WireCallDeps = CallCoreDeps & { readonly budgets?: AppBudgets | undefined };

export class WireCall extends CallCore {
  constructor(deps: WireCallDeps, header: WireHeader, api: string, bytesIn: number, arrival: number) {
    super(deps, 'wire', api, { requestId: header.requestId, traceparent: header.traceparent, deadline: deadlineFrom(arrival, header.deadlineMs) }, bytesIn);
  }

  /**
   * Starts the metrics of the call under `appLabel` (the calling app), and for an app admits it
   * against its quota (throws HEARTH_ERR_RESOURCE_EXHAUSTED): held until the call ends.
   */
  beginAs(appLabel: string, principal: WirePrincipal | undefined, api?: string): void {
    if (principal !== undefined) this.setWho(principal.kind === 'app' ? { app: principal.app.id } : { caller: principal.callerAppId, forwarded: principal.scope });
    this.begin(appLabel, api);
    if (principal?.kind === 'app') this.admit(principal.app);
  }

  /** Records a successful call and returns the Response header. */
  okHeader(bytesOut = 0): WireHeader {
    this.ok(bytesOut);
    return { requestId: this.requestId };
  }

  /** Records a failed call and returns the Response header: code, message, `detail.<name>`. */
  failHeader(err: unknown): WireHeader {
    return errorHeader(this.fail(err), this.requestId);
  }
}

/** A coded error as a Response (or Goaway) header; details as `detail.<name>` metadata. */
export function errorHeader(e: HearthError, requestId?: string): WireHeader {
  const metadata: Record<string, string> = {};
  // An internal error's details are ours, not the caller's business.
  if (e.details !== undefined && e.code !== 'HEARTH_ERR_INTERNAL') {
    for (const [k, v] of Object.entries(e.details)) metadata[`detail.${k}`] = typeof v === 'string' ? v : JSON.stringify(v) ?? '';
  }
  return { requestId, errorCode: e.code, errorMessage: e.message, metadata };
}
