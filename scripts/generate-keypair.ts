#!/usr/bin/env node
// `node dist/scripts/generate-keypair.js --out DIR`: a new ed25519 signing key pair,
// DIR/hearth-signing.key (PKCS8 PEM, mode 0600: keep it off the hosts) and DIR/hearth-signing.pub
// (SPKI PEM: what `upgrade.publicKeyFile` points at). Existing files are never overwritten.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = `usage: generate-keypair --out DIR

Writes DIR/hearth-signing.key (private, PKCS8 PEM, mode 0600) and DIR/hearth-signing.pub
(public, SPKI PEM). Refuses to overwrite existing files.`;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  if (values.out === undefined) {
    console.error(USAGE);
    return 2;
  }
  const dir = path.resolve(values.out);
  await mkdir(dir, { recursive: true });
  const keyFile = path.join(dir, 'hearth-signing.key');
  const pubFile = path.join(dir, 'hearth-signing.pub');
  // Checked together first, so a refusal never leaves a new key beside an old public key.
  for (const f of [keyFile, pubFile]) {
    if (existsSync(f)) throw new Error(`${f} already exists; not overwriting a key pair`);
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  // 'wx': fail if it exists, so a key in use is never replaced by accident.
  await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  await writeFile(pubFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  console.log(`wrote ${keyFile} (private, keep it secret)`);
  console.log(`wrote ${pubFile} (set upgrade.publicKeyFile to it on every host)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`generate-keypair: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
