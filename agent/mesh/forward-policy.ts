// What agent-to-agent traffic may do, in one place: who a Request on the sibling port or on a
// worker's peer socket speaks for, which methods a forwarding agent may call, and which hops a
// call may take from here.
//
// - The sibling port (TCP+TLS, no socket names the caller): every Request carries `caller`, and
//   its token — only its token — says who is speaking. The cluster token (compared in constant
//   time) makes it a sibling agent forwarding an invocation of app `caller`, which that agent
//   authenticated: scope `host`. The token of app `caller` makes it that app's SDK, failed over
//   from its own agent: the call runs as the app. An unknown app and a wrong token get the same
//   answer, and app tokens shorter than MIN_NETWORK_TOKEN_CHARS are refused here (they still
//   work on the app's own sockets). A verified client certificate decides who may connect,
//   never who is speaking: apps that fail over hold client certificates too.
// - The peer socket (a worker's private Unix socket; its directory's permissions are the trust):
//   Requests carry no token and name the verified calling app in `caller`: scope `worker`.
// - A forwarding agent may only call Invoke/InvokeService, or Mesh/Invoke (the same invocation with
//   its routing in the header); an app may not call Mesh/Invoke.
// - Scope bounds the hops: an app's own call (`any`) may go to this worker's instances, the other
//   workers of this agent, then sibling agents; a sibling's (`host`) stays on this host; another
//   worker's (`worker`) stays in this worker — so a call never bounces between workers or agents.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isAppId, METHODS, type WireHeader } from '@hearth/protocol';
import type { AppRegistry } from '../apps/app-registry.js';
import { MIN_NETWORK_TOKEN_CHARS } from '../config/config-schema.js';
import type { InvokeScope } from '../building-blocks/runtime-api.js';
import { HearthError } from '../errors/hearth-error.js';
import type { WirePrincipal } from '../transports/wire/wire-call.js';

/** The hops a call of `scope` may take from this worker. */
export interface Hops {
  /** Other workers of this agent (their peer sockets). */
  readonly workers: boolean;
  /** Sibling agents on other hosts. */
  readonly siblings: boolean;
}

export function hopsFor(scope: InvokeScope): Hops {
  return { workers: scope !== 'worker', siblings: scope === 'any' };
}

/** What one sibling connection has proven: the cluster token it sent (not hashed again when repeated). */
export interface SiblingProof {
  clusterToken?: string | undefined;
}

/**
 * The sibling port's rule (see the header). Throws a coded error for a Request it cannot place.
 * `proof` is the connection's: a Request repeating the cluster token its connection proved is not
 * hashed again (the comparison only tells the client about a token it sent itself).
 */
export function siblingPrincipal(header: WireHeader, apps: AppRegistry, clusterTokenSha256: Buffer | undefined, proof: SiblingProof = {}): WirePrincipal {
  const caller = header.caller ?? '';
  if (caller === '') throw new HearthError('HEARTH_ERR_UNAUTHENTICATED', 'the sibling port requires `caller` on every Request');
  if (!isAppId(caller)) throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', '`caller` is not an app id');
  const token = header.token ?? '';
  if (token === '') throw new HearthError('HEARTH_ERR_UNAUTHENTICATED', 'missing token: send the app token of `caller`, or the cluster token');
  if ((proof.clusterToken === token && clusterTokenSha256 !== undefined) || isClusterToken(token, clusterTokenSha256)) {
    proof.clusterToken = token;
    return { kind: 'agent', callerAppId: caller, scope: 'host' };
  }
  // Decided by what the caller sent alone, so it says nothing about this agent's apps.
  if (token.length < MIN_NETWORK_TOKEN_CHARS) {
    throw new HearthError(
      'HEARTH_ERR_UNAUTHENTICATED',
      `app tokens shorter than ${MIN_NETWORK_TOKEN_CHARS} characters are not accepted on the sibling port (this one has ${token.length}); they work on the app's own sockets only`,
      { minTokenLength: MIN_NETWORK_TOKEN_CHARS },
    );
  }
  // One answer, in comparable time, for an unknown app and a wrong token: the port lists no apps.
  const app = apps.verify(caller, token);
  if (app === undefined) throw new HearthError('HEARTH_ERR_UNAUTHENTICATED', 'the token is neither the cluster token nor the token of app `caller`');
  return { kind: 'app', app };
}

/** The peer socket's rule (see the header). */
export function peerWorkerPrincipal(header: WireHeader): WirePrincipal {
  const caller = header.caller ?? '';
  if (!isAppId(caller)) throw new HearthError('HEARTH_ERR_INVALID_ARGUMENT', 'a forwarded Request names the calling app in `caller`');
  return { kind: 'agent', callerAppId: caller, scope: 'worker' };
}

/** Throws HEARTH_ERR_PERMISSION_DENIED for a method this principal may not call here. */
export function authorizeMethod(principal: WirePrincipal, method: string): void {
  if (principal.kind === 'agent' && method !== METHODS.invoke && method !== METHODS.meshInvoke) {
    throw new HearthError('HEARTH_ERR_PERMISSION_DENIED', 'agents may only forward Invoke/InvokeService or Mesh/Invoke on this connection');
  }
  if (principal.kind === 'app' && method === METHODS.meshInvoke) {
    throw new HearthError('HEARTH_ERR_PERMISSION_DENIED', 'Mesh/Invoke is for agents forwarding an invocation; apps call Invoke/InvokeService');
  }
}

function isClusterToken(token: string, expectedSha256: Buffer | undefined): boolean {
  if (expectedSha256 === undefined) return false;
  const given = createHash('sha256').update(token, 'utf8').digest();
  return given.length === expectedSha256.length && timingSafeEqual(given, expectedSha256);
}
