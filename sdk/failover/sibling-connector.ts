// How the SDK reaches a sibling agent: the wire protocol over TCP+TLS to its sibling port. There
// the SDK is a plain app — no socket names it, so every request carries `caller` = the app id and
// the app's own token (siblings share their configuration, so the token is valid there too).
import { type ProtocolLogger as SdkLogger } from '@hearth/protocol';
import type { SdkTransport } from '../transport.js';
import { WireTransport } from '../wire/wire-transport.js';
import type { SiblingEndpoint, SiblingTls } from './sibling-list.js';

export interface SiblingConnectorOptions {
  readonly appId: string;
  readonly token: string;
  readonly tls: SiblingTls;
  /** Bound on TCP connect plus TLS handshake. Default 2 s (a switch bounds its probes itself). */
  readonly connectTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  readonly logger?: SdkLogger;
}

export function siblingConnector(options: SiblingConnectorOptions): (endpoint: SiblingEndpoint) => SdkTransport {
  return (endpoint) =>
    new WireTransport({
      endpoint: { host: endpoint.host, port: endpoint.port, tls: options.tls },
      token: options.token,
      caller: options.appId,
      name: `sibling:${endpoint.name}`,
      connectTimeoutMs: options.connectTimeoutMs ?? 2_000,
      ...(options.maxFrameBytes !== undefined ? { maxFrameBytes: options.maxFrameBytes } : {}),
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
}
