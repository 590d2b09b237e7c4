// Lint: for the TypeScript (src/, test/, bench/*.ts), ESLint's recommended
// rules and typescript-eslint's type-checked recommended set, which catch
// lost replies (floating promises), unsafe `any` flows and needless
// assertions; ESLint's recommended rules for the JavaScript of bin/,
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
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }],
      }],
      // An async function without await is how a port, fake or handler
      // written synchronously keeps its throws as rejections, which its
      // callers await or .catch(); the rule cannot tell that from a
      // forgotten await, and lost promises are no-floating-promises' job.
      '@typescript-eslint/require-await': 'off',
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
