// The app tokens that can be used over the network, checked when the configuration loads. An
// app's own sockets identify it by themselves; on the sibling port (siblings.listen) the token
// alone says who speaks (docs/wire-protocol.md, "Identity and authentication"), so there:
// - (two apps sharing a token are refused for every configuration, by the loader itself);
// - an app token equal to the cluster token would make that app an agent: refused (whenever a
//   cluster token is configured: its peers share this configuration);
// - an app token shorter than MIN_NETWORK_TOKEN_CHARS still works on the app's sockets but the
//   sibling port refuses it: a warning. A tokenSha256 cannot be measured; the sibling port checks
//   the length of the token presented instead (forward-policy.ts).
import { MIN_NETWORK_TOKEN_CHARS } from './config-schema.js';

export interface DeclaredToken {
  /** Where the app is declared, e.g. `apps[2]`. */
  readonly at: string;
  readonly appId: string;
  /** The key the token was given under. */
  readonly key: 'token' | 'tokenFile' | 'tokenSha256';
  readonly sha256: string;
  /** The clear token's length; undefined when only its sha256 is known. */
  readonly chars: number | undefined;
}

export function checkNetworkTokens(
  apps: readonly DeclaredToken[],
  siblings: { readonly listen: object | undefined; readonly clusterTokenSha256: string },
  problems: string[],
  warnings: string[],
): void {
  for (const a of apps) {
    if (siblings.clusterTokenSha256 !== '' && a.sha256 === siblings.clusterTokenSha256) {
      problems.push(`${a.at}.${a.key}: app "${a.appId}" has the cluster token as its token; on the sibling port that token makes its holder an agent`);
    }
  }
  if (siblings.listen === undefined) return;
  for (const a of apps) {
    if (a.chars !== undefined && a.chars < MIN_NETWORK_TOKEN_CHARS) {
      warnings.push(
        `${a.at}.${a.key}: app "${a.appId}" has a ${a.chars}-character token; the sibling port accepts app tokens of at least ${MIN_NETWORK_TOKEN_CHARS} characters, so it cannot fail over to this agent (its own sockets are unaffected)`,
      );
    }
  }
}
