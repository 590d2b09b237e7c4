// Lint: type-aware rules that catch lost replies (floating promises), and
// the layer rules (protocol → core → backends/transports → daemon; wire/ is
// the D-Bus and Varlink protocol library both the transports and client/
// use; client users never reach into the daemon side).
import tseslint from 'typescript-eslint'

const nodeBuiltins = { group: ['node:*'], message: 'protocol/ and core/ reach the runtime only through ports.' }
const layer = (from, banned) => ({
  files: [`src/${from}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', { patterns: banned }],
  },
})

export default tseslint.config(
  // .tmp/ is git-ignored scratch space.
  { ignores: ['dist/**', 'node_modules/**', 'bench/node_modules/**', '.tmp/**', '**/*.js'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  layer('wire', [{ group: ['**/core/**', '**/backends/**', '**/transports/**', '**/daemon/**', '**/client/**'], message: 'wire/ is a protocol library: it knows no machines.' }]),
  layer('protocol', [nodeBuiltins, { group: ['**/core/**', '**/backends/**', '**/transports/**', '**/daemon/**', '**/client/**'], message: 'protocol/ imports nothing.' }]),
  layer('core', [nodeBuiltins, { group: ['**/backends/**', '**/transports/**', '**/daemon/**', '**/client/**'], message: 'core/ imports only protocol/.' }]),
  layer('native', [{ group: ['**/protocol/**', '**/wire/**', '**/core/**', '**/backends/**', '**/transports/**', '**/daemon/**', '**/client/**', '**/cli/**', '**/spawn/**', '**/vmspawn/**'], message: 'native/ finds the native parts for every layer: it imports nothing of ours.' }]),
  layer('backends', [{ group: ['**/transports/**', '**/daemon/**', '**/client/**'], message: 'backends/ implement core ports; they do not know transports.' }]),
  layer('transports', [{ group: ['**/backends/**', '**/daemon/**', '**/client/**'], message: 'transports/ wrap the core only.' }]),
  layer('client', [{ group: ['**/core/**', '**/backends/**', '**/transports/**', '**/daemon/**'], message: 'client/ talks to the daemon over the wire only.' }]),
  layer('web', [{ group: ['**/core/**', '**/backends/**', '**/transports/**', '**/daemon/**', '**/cli/**', '**/spawn/**', '**/vmspawn/**'], message: 'web/ reaches the daemon through client/ and protocol/ only.' }]),
  ...['cli', 'spawn', 'vmspawn'].map((dir) =>
    layer(dir, [{ group: ['**/core/**', '**/backends/**', '**/transports/**', '**/daemon/**'], message: 'Reach the daemon through client/ and protocol/ only.' }]),
  ),
)
