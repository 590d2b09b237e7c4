// Lint: type-aware rules that catch lost replies (floating promises) in the
// TypeScript; ESLint's recommended rules for the JavaScript of bin/,
// scripts/, bench/ and examples/; and, for both, the layer table
// (scripts/eslint-layers.js): each folder of src/ imports only the layers
// its row lists.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'
import { layersConfig } from './scripts/eslint-layers.js'

export default tseslint.config(
  // .tmp/ is git-ignored scratch space.
  { ignores: ['dist/**', 'node_modules/**', 'bench/node_modules/**', '.tmp/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: globals.node },
    rules: {
      eqeqeq: ['error', 'always'],
    },
  },
  // bin/ is CommonJS (bin/package.json): Node 20 starts it sooner.
  { files: ['bin/**/*.js'], languageOptions: { sourceType: 'commonjs' } },
  layersConfig,
)
