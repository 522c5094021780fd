// App identity and access rules. The socket a request arrived on names the app; the token must
// also match. Everything here is pure: transports call it on every request.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AppConfig } from '../config/load-config.js';
import { HearthError } from '../errors/hearth-error.js';

/** Separator between app id and key, as Dapr uses: `<appId>||<key>`. */
export const KEY_SEPARATOR = '||';
/** What an unknown app's token is compared against: random, so no token matches it. */
const UNKNOWN_APP_SHA256 = randomBytes(32);

export class AppRegistry {
  readonly #apps: ReadonlyMap<string, AppConfig>;

  constructor(apps: readonly AppConfig[]) {
    this.#apps = new Map(apps.map((a) => [a.id, a]));
  }

  get(appId: string): AppConfig | undefined {
    return this.#apps.get(appId);
  }

  require(appId: string): AppConfig {
    const app = this.#apps.get(appId);
    if (!app) throw new HearthError('HEARTH_ERR_UNKNOWN_APP', `no app "${appId}" is declared on this agent`);
    return app;
  }

  list(): AppConfig[] {
    return [...this.#apps.values()];
  }

  /** Throws HEARTH_ERR_UNAUTHENTICATED unless `token` is this app's token (constant time). */
  authenticate(app: AppConfig, token: string | undefined): void {
    if (token === undefined || token === '') {
      throw new HearthError('HEARTH_ERR_UNAUTHENTICATED', 'missing app token: send "authorization: Bearer <token>"');
    }
    const given = createHash('sha256').update(token, 'utf8').digest();
    const expected = Buffer.from(app.tokenSha256, 'hex');
    if (expected.length !== given.length || !timingSafeEqual(given, expected)) {
      throw new HearthError('HEARTH_ERR_UNAUTHENTICATED', `invalid token for app "${app.id}"`);
    }
  }

  /**
   * The app `appId` when `token` is its token, else undefined — for a port where the token alone
   * says who speaks. An unknown app costs the same as a wrong token (the token is hashed and
   * compared against a stand-in), so neither the answer nor its time tells whether `appId` exists.
   */
  verify(appId: string, token: string): AppConfig | undefined {
    const app = this.#apps.get(appId);
    const given = createHash('sha256').update(token, 'utf8').digest();
    const expected = app === undefined ? UNKNOWN_APP_SHA256 : Buffer.from(app.tokenSha256, 'hex');
    const match = expected.length === given.length && timingSafeEqual(given, expected);
    return match && app !== undefined ? app : undefined;
  }

  static canUseComponent(app: AppConfig, name: string): boolean {
    return app.allow.components.includes('*') || app.allow.components.includes(name);
  }

  static canUseTopic(app: AppConfig, topic: string): boolean {
    return app.allow.topics.some((pattern) => matchTopic(pattern, topic));
  }

  static canInvoke(app: AppConfig, target: string): boolean {
    return app.allow.apps.includes('*') || app.allow.apps.includes(target);
  }
}

/**
 * One connection's proven token: a request that repeats the token its connection already
 * authenticated with is not hashed again (a sha256 per request was a visible share of a call's
 * cost). Checked afresh when the token differs or the app's token changed (a reload). The string
 * comparison only ever tells a client about a token it sent itself.
 */
export class ConnectionAuth {
  #token: string | undefined;
  #sha: string | undefined;

  /** AppRegistry.authenticate, remembered for this connection. */
  authenticate(apps: AppRegistry, app: AppConfig, token: string | undefined): void {
    if (token !== undefined && token === this.#token && app.tokenSha256 === this.#sha) return;
    this.#token = undefined;
    apps.authenticate(app, token);
    this.#token = token;
    this.#sha = app.tokenSha256;
  }
}

/** `*` matches everything; a trailing `*` matches a prefix (`orders.*`). */
function matchTopic(pattern: string, topic: string): boolean {
  if (pattern === '*' || pattern === topic) return true;
  return pattern.endsWith('*') && topic.startsWith(pattern.slice(0, -1));
}

/** Extracts the token from `Bearer <token>` (case-insensitive scheme) or a bare token. */
export function parseBearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bearer\s+(.+?)\s*$/i.exec(header);
  return m ? m[1] : header.trim() || undefined;
}
