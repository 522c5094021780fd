#!/usr/bin/env node
// `node dist/scripts/sign-artifact.js --key FILE --artifact FILE [--out FILE]`: writes the
// base64 ed25519 signature of the artifact (default `<artifact>.sig`). What is signed is defined
// once, in ops-agent/artifacts/artifact-signature.ts, which the verifier uses too.
import { createPrivateKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sha256File, signArtifactDigest } from '../ops-agent/artifacts/artifact-signature.js';

const USAGE = `usage: sign-artifact --key FILE --artifact FILE [--out FILE]

Signs sha256(artifact) with the ed25519 private key (PKCS8 PEM) and writes the base64
signature to --out (default <artifact>.sig). Pass that file to \`hearth upgrade --signature\`.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { key: { type: 'string' }, artifact: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  if (values.key === undefined || values.artifact === undefined) {
    console.error(USAGE);
    return 2;
  }
  const key = createPrivateKey(await readFile(path.resolve(values.key)));
  const artifact = path.resolve(values.artifact);
  const { sha256 } = await sha256File(artifact);
  const signature = signArtifactDigest(key, sha256);
  const out = path.resolve(values.out ?? `${artifact}.sig`);
  await writeFile(out, `${signature}\n`, { mode: 0o644 });
  console.log(`sha256 ${sha256}`);
  console.log(`wrote ${out}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`sign-artifact: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
