// Type-aware lint: floating promises and `any` are errors; only main.ts files and CLIs touch the
// process (exit, console). The folder rules of the READMEs are enforced here too: an import in the
// wrong direction fails `npm test`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** An import that climbs to the repository root and enters one of `folders`. */
const into = (folders, message) => ({ regex: `^(\\./)?(\\.\\./)+(${folders.join('|')})/`, message });
/** A package name import. */
const pkg = (name, message) => ({ regex: `^${name.replace('/', '\\/')}(/|$)`, message });
/** Any package import but node's built-ins, relative paths and `allowed`. */
const packagesBut = (allowed, message) => ({ regex: `^(?!node:|\\.|(${allowed.map((a) => a.replace('/', '\\/')).join('|')})(/|$))`, message });

const AGENT = [
  into(['ops-agent', 'sdk', 'protocol', 'scripts', 'bench', 'test'], 'agent/ imports the protocol layer as @hearth/protocol, and nothing from ops-agent/, sdk/, scripts/, bench/ or test/.'),
  { regex: '^(\\./)?(\\.\\./)+upgrade/(?!handoff-protocol\\.js$)', message: 'agent/ uses upgrade/ only through upgrade/handoff-protocol.ts.' },
  pkg('@hearth/sdk', 'agent/ does not use the SDK: agents reach each other with @hearth/protocol.'),
];

/**
 * Who may import what (each top-level folder's README says the same in words):
 * protocol/ → nothing of ours, and of packages only protobufjs and long; sdk/ → @hearth/protocol
 * (by package name) and @grpc/grpc-js; upgrade/ → nothing of ours; agent/ → @hearth/protocol, and
 * upgrade/ only through its hand-off protocol; inside agent/ the layers point one way;
 * ops-agent/ → upgrade, agent/config, @hearth/protocol; scripts/ → ops-agent, upgrade,
 * @hearth/protocol. bench/ and test/ may use everything, but bench/ reaches test code only through
 * test/support/. A rule list replaces, not extends, an earlier one for the same file, so every
 * entry below carries all the patterns its files obey.
 */
const BOUNDARIES = [
  {
    files: ['protocol/**/*.ts'],
    patterns: [
      into(['agent', 'ops-agent', 'upgrade', 'sdk', 'scripts', 'bench', 'test', 'protocol'], 'protocol/ is the shared layer: it imports nothing else of ours.'),
      packagesBut(['protobufjs', 'long'], 'protocol/ is installed by every client: it depends on protobufjs (and its long) only.'),
    ],
  },
  {
    files: ['sdk/**/*.ts'],
    patterns: [
      into(['agent', 'ops-agent', 'upgrade', 'protocol', 'scripts', 'bench', 'test'], 'sdk/ is installed on its own: it imports only @hearth/protocol (by package name) and its declared dependencies.'),
      packagesBut(['@hearth/protocol', '@grpc/grpc-js'], 'sdk/ depends on @hearth/protocol, and on @grpc/grpc-js (an optional peer, loaded lazily) only.'),
    ],
  },
  {
    files: ['upgrade/**/*.ts'],
    patterns: [
      into(['agent', 'ops-agent', 'sdk', 'protocol', 'scripts', 'bench', 'test'], 'upgrade/ is the hand-off mechanism: it imports nothing from agent/ or ops-agent/.'),
      pkg('@hearth/sdk', 'upgrade/ imports nothing of ours.'),
      pkg('@hearth/protocol', 'upgrade/ imports nothing of ours.'),
    ],
  },
  { files: ['agent/**/*.ts'], patterns: AGENT },
  {
    files: ['agent/components/**/*.ts', 'agent/apps/**/*.ts', 'agent/config/**/*.ts', 'agent/errors/**/*.ts', 'agent/observability/**/*.ts'],
    patterns: [
      ...AGENT,
      into(['building-blocks', 'transports', 'mesh', 'app-channel'], 'components, apps, config, errors and observability are the bottom of agent/: they serve the building blocks, transports and mesh, never import them.'),
    ],
  },
  {
    files: ['agent/building-blocks/**/*.ts', 'agent/app-channel/**/*.ts'],
    patterns: [
      ...AGENT,
      into(['transports', 'mesh'], 'building-blocks/ and app-channel/ are called by transports/ and mesh/; they declare the interfaces they need instead of importing them.'),
    ],
  },
  {
    files: ['agent/building-blocks/**/*.ts'],
    patterns: [
      ...AGENT,
      into(['transports', 'mesh', 'app-channel'], 'building-blocks/ declares CallbackHost and InvokeRouter; app-channel/ and mesh/ implement them (no import back).'),
    ],
  },
  {
    files: ['ops-agent/**/*.ts'],
    patterns: [
      { regex: '^(\\./)?(\\.\\./)+agent/(?!config/)', message: 'ops-agent/ imports only agent/config/ from agent/.' },
      into(['sdk', 'protocol', 'scripts', 'bench', 'test'], 'ops-agent/ composes upgrade/, agent/config/ and @hearth/protocol only.'),
      pkg('@hearth/sdk', 'ops-agent/ does not use the SDK.'),
    ],
  },
  {
    files: ['scripts/**/*.ts'],
    patterns: [
      into(['agent', 'sdk', 'protocol', 'bench', 'test'], 'scripts/ build and ship releases: they use ops-agent/, upgrade/ and @hearth/protocol only.'),
      pkg('@hearth/sdk', 'scripts/ do not use the SDK.'),
    ],
  },
  {
    files: ['bench/**/*.ts'],
    patterns: [{ regex: '^(\\./)?(\\.\\./)+test/(?!support/)', message: 'bench/ shares test infrastructure through test/support/ only.' }],
  },
];

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', 'run/**', 'data/**', 'artifacts/**', 'bench/results/**', 'protocol/gen/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'protocol/generate.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-console': 'error',
      'no-restricted-properties': ['error',
        { object: 'process', property: 'exit', message: 'Only main.ts files may exit the process.' }],
    },
  },
  ...BOUNDARIES.map(({ files, patterns }) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns }] } })),
  {
    files: ['**/main.ts', 'ops-agent/cli/**', 'scripts/**', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off', 'no-restricted-properties': 'off' },
  },
  {
    // Plain JavaScript run by node (the example apps, the protocol's generator): no type
    // information, Node's globals.
    files: ['examples/**/*.mjs', 'protocol/generate.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', performance: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, 'no-console': 'off', 'no-restricted-properties': 'off' },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
