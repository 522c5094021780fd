// Type-aware lint: floating promises and `any` are errors (STYLE.md 10); only main.ts files and
// CLIs touch the process (STYLE.md 5).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'run/**', 'data/**', 'artifacts/**', 'bench/results/**', 'proto/gen/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
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
  {
    files: ['**/main.ts', 'ops-agent/cli/**', 'scripts/**', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off', 'no-restricted-properties': 'off' },
  },
  {
    // The example apps are plain JavaScript run by node: no type information, Node's globals.
    files: ['examples/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', performance: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, 'no-console': 'off', 'no-restricted-properties': 'off' },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
