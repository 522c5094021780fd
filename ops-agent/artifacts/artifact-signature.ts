// The one definition of what an artifact signature signs, shared by scripts/sign-artifact.ts and
// the verifier: ed25519 over the bytes of `hearth-artifact-v1:<sha256 hex of the artifact>`.
// Signing the digest, not the file, lets the verifier read the artifact once (the sha256 it
// computes anyway), lets a release pipeline sign without holding the archive, and lets the
// ops-agent check a request's signature against the sha256 it claims before fetching anything.
import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';

export const SIGNATURE_CONTEXT = 'hearth-artifact-v1:';
const SHA256_HEX = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const ED25519_SIGNATURE_BYTES = 64;

export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX.test(value);
}

/** The exact bytes signed for an artifact whose sha256 is `sha256Hex` (64 lowercase hex). */
export function signatureMessage(sha256Hex: string): Buffer {
  if (!isSha256Hex(sha256Hex)) throw new TypeError('sha256 must be 64 lowercase hex characters');
  return Buffer.from(`${SIGNATURE_CONTEXT}${sha256Hex}`, 'utf8');
}

/** Base64 text of the ed25519 signature (what a `.sig` file holds). */
export function signArtifactDigest(privateKey: KeyObject, sha256Hex: string): string {
  assertEd25519(privateKey);
  return sign(null, signatureMessage(sha256Hex), privateKey).toString('base64');
}

/** The raw signature from `.sig` text, or undefined when it is not base64 of 64 bytes. */
export function parseSignature(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 !== 0) return undefined;
  const raw = Buffer.from(compact, 'base64');
  return raw.length === ED25519_SIGNATURE_BYTES ? raw : undefined;
}

export function verifyArtifactDigest(publicKey: KeyObject, sha256Hex: string, signature: Buffer): boolean {
  assertEd25519(publicKey);
  return verify(null, signatureMessage(sha256Hex), publicKey, signature);
}

export function assertEd25519(key: KeyObject): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`expected an ed25519 key, got ${key.asymmetricKeyType ?? key.type}`);
  }
}

export interface HashProgress {
  (bytes: number): void;
}

/** sha256 (lowercase hex) and size of a file, streamed once. */
export async function sha256File(file: string, options: { signal?: AbortSignal; onProgress?: HashProgress } = {}): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = createReadStream(file, { highWaterMark: 1024 * 1024, ...(options.signal ? { signal: options.signal } : {}) });
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    hash.update(buf);
    bytes += buf.length;
    options.onProgress?.(bytes);
  }
  return { sha256: hash.digest('hex'), bytes };
}
