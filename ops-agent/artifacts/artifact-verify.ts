// Verification before anything is unpacked: the sha256 always, the ed25519 signature when a
// public key is configured. Signature policy:
//   key configured, no signature      → refused (missing)
//   key configured, signature given   → verified
//   no key, signature given           → refused: a signature nobody can check would only look safe
//   no key, no signature              → sha256 only
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { OpsError } from '../ops-errors.js';
import { assertEd25519, parseSignature, sha256File, verifyArtifactDigest } from './artifact-signature.js';

export interface VerifyRequest {
  readonly file: string;
  /** Expected sha256, 64 lowercase hex. */
  readonly sha256: string;
  /** Base64 text of the signature (a `.sig` file's content). */
  readonly signature?: string | undefined;
  /** `upgrade.publicKeyFile`: when set, a valid signature is required. */
  readonly publicKeyFile?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: (bytes: number) => void;
}

export interface VerifyResult {
  readonly sha256: string;
  readonly bytes: number;
  /** True when a signature was checked. */
  readonly signed: boolean;
}

/** The configured ed25519 public key (SPKI PEM); an unreadable or wrong key is a config error. */
export async function loadPublicKey(file: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new OpsError('HEARTH_ERR_CONFIG_INVALID', `upgrade.publicKeyFile ${file} cannot be read: ${(err as Error).message}`);
  }
  try {
    const key = createPublicKey(pem);
    assertEd25519(key);
    return key;
  } catch (err) {
    throw new OpsError('HEARTH_ERR_CONFIG_INVALID', `upgrade.publicKeyFile ${file} is not an ed25519 public key: ${(err as Error).message}`);
  }
}

export async function verifyArtifact(req: VerifyRequest): Promise<VerifyResult> {
  // Policy and signature syntax first: cheap, and no point hashing a request that cannot pass.
  const hasSignature = req.signature !== undefined && req.signature.trim() !== '';
  let key: KeyObject | undefined;
  let signature: Buffer | undefined;
  if (req.publicKeyFile !== undefined) {
    if (!hasSignature) {
      throw new OpsError('HEARTH_ERR_ARTIFACT_SIGNATURE', 'the artifact signature is missing: upgrade.publicKeyFile is configured, so every artifact must be signed');
    }
    key = await loadPublicKey(req.publicKeyFile);
  } else if (hasSignature) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_SIGNATURE', 'a signature was given but no upgrade.publicKeyFile is configured to verify it');
  }
  if (key !== undefined) {
    signature = parseSignature(req.signature ?? '');
    if (signature === undefined) {
      throw new OpsError('HEARTH_ERR_ARTIFACT_SIGNATURE', 'the artifact signature is malformed: expected base64 of a 64-byte ed25519 signature');
    }
  }

  let actual: { sha256: string; bytes: number };
  try {
    actual = await sha256File(req.file, {
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.onProgress ? { onProgress: req.onProgress } : {}),
    });
  } catch (err) {
    if (req.signal?.aborted) throw err;
    throw new OpsError('HEARTH_ERR_ARTIFACT_CHECKSUM', `cannot read the artifact to check its sha256: ${(err as Error).message}`);
  }
  if (actual.sha256 !== req.sha256) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_CHECKSUM', `the artifact does not match its sha256: expected ${req.sha256}, got ${actual.sha256}`);
  }
  if (key !== undefined && signature !== undefined && !verifyArtifactDigest(key, actual.sha256, signature)) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_SIGNATURE', `the artifact signature does not verify with the key in ${req.publicKeyFile ?? ''}`);
  }
  return { sha256: actual.sha256, bytes: actual.bytes, signed: key !== undefined };
}
