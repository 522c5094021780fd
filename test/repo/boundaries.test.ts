// The folder rules are lint rules: each case lints a small source text as if it were a file in
// that folder, with the repository's own eslint.config.js (type-aware rules off: the probe files
// do not exist on disk), and checks that a wrong-direction import is refused and a right one is not.
import test from 'ava';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { repoRoot } from '../support/repo-root.js';

const eslint = new ESLint({ cwd: repoRoot, overrideConfig: [tseslint.configs.disableTypeChecked] });

async function restricted(filePath: string, specifier: string): Promise<boolean> {
  const [result] = await eslint.lintText(`import * as probe from '${specifier}';\nexport const x = probe;\n`, { filePath });
  return (result?.messages ?? []).some((m) => m.ruleId === 'no-restricted-imports');
}

const REFUSED: readonly (readonly [string, string])[] = [
  ['sdk/blocks/probe.ts', '../../agent/apps/app-registry.js'],
  ['sdk/probe.ts', '../protocol/wire/frame.js'],
  ['protocol/wire/probe.ts', '@hearth/sdk'],
  ['protocol/probe.ts', '../agent/errors/hearth-error.js'],
  ['agent/mesh/probe.ts', '@hearth/sdk'],
  ['agent/mesh/probe.ts', '../../sdk/wire/wire-transport.js'],
  ['agent/transports/wire/probe.ts', '../../../protocol/wire/frame.js'],
  ['agent/probe.ts', '../upgrade/anything-else.js'],
  ['agent/probe.ts', '../ops-agent/supervisor.js'],
  ['agent/building-blocks/probe.ts', '../mesh/mesh-router.js'],
  ['agent/building-blocks/probe.ts', '../app-channel/callback-registry.js'],
  ['agent/components/sqlite/probe.ts', '../../building-blocks/runtime-api.js'],
  ['agent/app-channel/probe.ts', '../transports/call-core.js'],
  ['upgrade/probe.ts', '../agent/config/load-config.js'],
  ['upgrade/probe.ts', '../ops-agent/supervisor.js'],
  ['ops-agent/probe.ts', '../agent/building-blocks/runtime-api.js'],
  ['ops-agent/cli/probe.ts', '@hearth/sdk'],
  ['scripts/probe.ts', '../agent/config/load-config.js'],
  ['bench/harness/probe.ts', '../../test/helpers/hearth-process.js'],
  ['agent/building-blocks/probe.ts', '@hearth/sdk'],
  ['agent/building-blocks/probe.ts', '../../ops-agent/supervisor.js'],
  ['agent/components/probe.ts', '../../ops-agent/supervisor.js'],
  ['agent/app-channel/probe.ts', '../../upgrade/anything.js'],
  ['agent/config/probe.ts', '../../protocol/wire/frame.js'],
  ['agent/mesh/probe.ts', './../../sdk/client.js'],
  ['upgrade/probe.ts', '@hearth/protocol'],
  ['sdk/probe.ts', 'pino'],
  ['protocol/wire/probe.ts', '@grpc/proto-loader'],
  ['scripts/probe.ts', '@hearth/sdk'],
];

const ALLOWED: readonly (readonly [string, string])[] = [
  ['sdk/blocks/probe.ts', '@hearth/protocol'],
  ['sdk/blocks/probe.ts', '../transport.js'],
  ['agent/mesh/probe.ts', '@hearth/protocol'],
  ['agent/probe.ts', '../upgrade/handoff-protocol.js'],
  ['agent/mesh/probe.ts', '../building-blocks/runtime-api.js'],
  ['agent/transports/grpc/probe.ts', '../../app-channel/callback-registry.js'],
  ['ops-agent/probe.ts', '../agent/config/load-config.js'],
  ['ops-agent/probe.ts', '../upgrade/handoff-protocol.js'],
  ['scripts/probe.ts', '../ops-agent/artifacts/artifact-manifest.js'],
  ['bench/harness/probe.ts', '../../test/support/redis-server.js'],
  ['test/e2e/probe.ts', '../../agent/mesh/mesh-router.js'],
  ['sdk/grpc/probe.ts', '@grpc/grpc-js'],
  ['sdk/probe.ts', 'node:net'],
  ['protocol/probe.ts', 'protobufjs'],
  ['agent/components/redis/probe.ts', 'ioredis'],
];

for (const [file, specifier] of REFUSED) {
  test(`lint refuses ${specifier} in ${file}`, async (t) => {
    t.true(await restricted(file, specifier));
  });
}

for (const [file, specifier] of ALLOWED) {
  test(`lint allows ${specifier} in ${file}`, async (t) => {
    t.false(await restricted(file, specifier));
  });
}
