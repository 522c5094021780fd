// Verification in two steps. The signature is checked against the CLAIMED sha256 before anything
// is fetched or read (it signs that digest: artifact-signature.ts), so a request nobody signed
// never makes the ops-agent touch its source; then the sha256 of what was fetched must equal the
// claim, before anything is unpacked. Signature policy:
//   key configured, no signature      → refused (missing)
//   key configured, signature given   → verified
//   no key, signature given           → refused: a signature nobody can check would only look safe
//   no key, no signature              → sha256 only
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { OpsError } from '../ops-errors.js';
import { assertEd25519, parseSignature, sha256File, verifyArtifactDigest } from './artifact-signature.js';

export interface SignatureClaim {
  /** The claimed sha256 of the artifact, 64 lowercase hex. */
  readonly sha256: string;
  /** Base64 text of the signature (a `.sig` file's content). */
  readonly signature?: string | undefined;
  /** `upgrade.publicKeyFile`: when set, a valid signature is required. */
  readonly publicKeyFile?: string | undefined;
}

export interface ChecksumRequest {
  readonly file: string;
  /** Expected sha256, 64 lowercase hex. */
  readonly sha256: string;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: (bytes: number) => void;
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

/** Applies the signature policy to the claim; resolves to whether a signature was verified. */
export async function checkSignature(claim: SignatureClaim): Promise<boolean> {
  const hasSignature = claim.signature !== undefined && claim.signature.trim() !== '';
  if (claim.publicKeyFile === undefined) {
    if (hasSignature) throw new OpsError('HEARTH_ERR_ARTIFACT_SIGNATURE', 'a signature was given but no upgrade.publicKeyFile is configured to verify it');
    return false;
  }
  if (!hasSignature) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_SIGNATURE', 'the artifact signature is missing: upgrade.publicKeyFile is configured, so every artifact must be signed');
  }
  const key = await loadPublicKey(claim.publicKeyFile);
  const signature = parseSignature(claim.signature ?? '');
  if (signature === undefined) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_SIGNATURE', 'the artifact signature is malformed: expected base64 of a 64-byte ed25519 signature');
  }
  if (!verifyArtifactDigest(key, claim.sha256, signature)) {
    throw new OpsError('HEARTH_ERR_ARTIFACT_SIGNATURE', `the artifact signature does not verify for sha256 ${claim.sha256} with the key in ${claim.publicKeyFile}`);
  }
  return true;
}

/** The size of `file`, once its sha256 equals the expected one. */
export async function verifyChecksum(req: ChecksumRequest): Promise<number> {
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
  // The expected digest only: what the bytes really hash to (or weigh) would make this an
  // oracle for any file the source could name.
  if (actual.sha256 !== req.sha256) throw new OpsError('HEARTH_ERR_ARTIFACT_CHECKSUM', `the artifact does not match its sha256: expected ${req.sha256}`);
  return actual.bytes;
}
