// What the upgrade manager needs from the artifact store (ops-agent/artifacts/artifact-store.ts):
// install a verified artifact with progress, list and find installed versions, prune old ones,
// and clean up after a `kill -9`. Declared here, structurally, so the hand-off logic depends on
// this contract and not on how artifacts are downloaded and unpacked.

export type InstallPhase = 'download' | 'verify' | 'unpack' | 'install';

export interface InstallProgress {
  readonly phase: InstallPhase;
  readonly bytes?: number;
  /** On `verify`, set only once the sha256 matched: the artifact's size (the disk preflight uses it). */
  readonly total?: number;
  readonly detail?: string;
}

export interface InstallRequest {
  /** A path, file:// or http(s):// URL. */
  readonly source: string;
  readonly sha256: string;
  /** base64 ed25519 signature; required when a public key is configured. */
  readonly signature?: string;
}

export interface InstalledVersion {
  readonly version: string;
  readonly dir: string;
  readonly sha256: string;
  readonly manifest: {
    readonly version: string;
    readonly protocol: number;
    readonly nodeAbi: string | number;
    readonly platform: string;
    readonly arch: string;
    readonly entry: { readonly worker: string };
  };
  readonly installedAt: string | number;
  readonly source: string;
}

type Maybe<T> = T | Promise<T>;

export interface VersionStore {
  install(request: InstallRequest, onProgress: (p: InstallProgress) => void, signal?: AbortSignal): Promise<InstalledVersion>;
  list(): Maybe<readonly InstalledVersion[]>;
  get(version: string): Maybe<InstalledVersion | undefined>;
  /** Keeps the newest `keep` versions plus every version in `protect`. */
  prune(keep: number, protect: readonly string[]): Maybe<unknown>;
  /** Removes half-installed versions and temp dirs left by a crash. */
  recover(): Maybe<unknown>;
}
