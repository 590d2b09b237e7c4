#!/usr/bin/env node
// Bundles each bin's code (src/<front end>/main.ts and all it imports, our
// code and our dependencies) into one file, dist/<front end>/<bin>.bundle.cjs,
// with esbuild. bin/<bin>.js loads that file: one file to read and compile
// instead of a hundred modules to resolve, so the tools start sooner
// (bench/README.md). It is built from the same TypeScript as dist/ by `npm ci`
// (the prepare script) and by the test command, so the tests run the bundles.
// A bundle sits in the folder its main.ts compiles to, so that the files its
// code finds next to itself (new URL('../../package.json', import.meta.url),
// the native addon, the web page's assets) are where they are in dist/.
import { build } from 'esbuild'
import { spawnSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { etcdProtoPlugin } from './etcd-bundle.js'

const root = fileURLToPath(new URL('..', import.meta.url))

/**
 * What each bin takes from its bundle: the bundle's entry, one module
 * re-exporting it (`exports`, from src/), or a package's every export
 * (`package`). The etcd3 client library stays a package, except in a
 * bundle of its own made with `etcd`'s options (./etcd-bundle.js). A
 * package named in `apart` is loaded, when first imported, from the
 * bundle named there (built here too): mctl takes etcd3 from such a bundle
 * only for --fleet, where starting it costs a tenth of loading the package.
 */
export const BINS = {
  // `train`: a module run with the bundle's exports before its code cache is written (see --cache).
  mctl: { dir: 'cli', exports: { runMctl: 'cli/main.ts' }, apart: { etcd3: 'mctl-etcd3' }, train: 'scripts/train-mctl.js' },
  // mctl makes range reads (src/fleet/store.ts, rangePrefixPaged()), after authenticating with a
  // user and password if given, and reads keys and values: the revisions and lease of each key,
  // four int64s that the decoder would turn into strings, are skipped.
  'mctl-etcd3': {
    dir: 'cli', package: 'etcd3',
    etcd: { calls: { 'etcdserverpb.KV': ['Range'], 'etcdserverpb.Auth': ['Authenticate'] }, only: { 'mvccpb.KeyValue': ['key', 'value'] } },
  },
  // Not a bin: what bin/mctl.js requires for a lone --version instead of all of mctl. No code cache: checking one costs more than
  // compiling 3 KiB.
  'mctl-version': { dir: 'cli', exports: { versionText: 'cli/version.ts', processIo: 'cli/io.ts' }, codeCache: false },
  // Not a bin either: what bin/mctl.js loads for a plain `mctl list`, the list verb over Varlink alone (src/cli/quick-list.ts).
  'mctl-list': { dir: 'cli', exports: { quickList: 'cli/quick-list.ts', processIo: 'cli/io.ts' }, train: 'scripts/train-mctl-list.js' },
  machined: { dir: 'daemon', exports: { main: 'daemon/main.ts' } },
  // The other exports are what its training run calls (./train-spawn.js): the steps of a boot that touch nothing of the host's.
  'machined-spawn': {
    dir: 'spawn',
    exports: {
      main: 'spawn/main.ts', recordExitStatus: 'linux/exit-status.ts', takeExitStatusFile: 'linux/exit-status.ts',
      parseCommandLine: 'spawn/options.ts', resolveConsoleMode: 'spawn/options.ts', resolveRoot: 'spawn/image-root.ts', prepare: 'spawn/main.ts',
      interpretExit: 'spawn/main.ts', hostLayout: 'spawn/cgroups.ts', encodedPlan: 'spawn/container.ts',
      reachMachined: 'spawn/register.ts', registerContainer: 'spawn/register.ts', unregisterContainer: 'spawn/register.ts',
    },
    train: 'scripts/train-spawn.js',
  },
  'machined-vmspawn': { dir: 'vmspawn', exports: { main: 'vmspawn/main.ts', recordExitStatus: 'linux/exit-status.ts', takeExitStatusFile: 'linux/exit-status.ts' } },
  'machined-web': { dir: 'web', exports: { main: 'web/main.ts' } },
}

/**
 * `--cache BUNDLE [TRAIN]` (run by the build, one process per bundle, its
 * output discarded): load the bundle as its bin does, which runs its top
 * level, then the bin's training run if it has one (TRAIN's train(): it
 * runs the bin's commonest command, see ./train-mctl.js), and write V8's
 * code cache of everything compiled by then next to the bundle. V8
 * compiles a function when it first runs, so the cache holds the top level
 * and what the training ran. A process of its own, so that each cache
 * holds one bundle's code.
 */
if (process.argv[2] === '--cache') {
  const { loadBundle } = createRequire(import.meta.url)('../bin/load-bundle.js')
  const [bundle, train] = process.argv.slice(3)
  const { exports, script } = loadBundle(bundle)
  if (train !== undefined) await (await import(`${root}${train}`)).train(exports, { root })
  writeFileSync(`${root}${bundle}.cache`, script.createCachedData())
  process.exit(0)
}

const bundles = Object.entries(BINS).map(([bin, { dir }]) => `dist/${dir}/${bin}.bundle.cjs`)
/** Imports of `apart` packages become a loadBundle() of their bundle, from the bundle's folder. */
function apartPlugin(apart) {
  const bundleOf = new Map(Object.entries(apart).map(([name, bin]) => [name, `dist/${BINS[bin].dir}/${bin}.bundle.cjs`]))
  return {
    name: 'apart',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        const bundle = bundleOf.get(args.path)
        return bundle === undefined ? undefined : { path: bundle, namespace: 'apart' }
      })
      b.onLoad({ filter: /.*/, namespace: 'apart' }, (args) => ({
        contents: `module.exports = require(require('node:path').join(__dirname, ${JSON.stringify(relative(`${root}dist/x`, `${root}bin/load-bundle.js`))})).loadBundle(${JSON.stringify(args.path)}).exports`,
        loader: 'js',
      }))
    },
  }
}

await Promise.all(Object.entries(BINS).map(([bin, { exports = {}, package: pkg, etcd, apart }], i) => build({
  absWorkingDir: root,
  stdin: {
    contents: pkg !== undefined ? `module.exports = require('${pkg}')` : Object.entries(exports).map(([name, file]) => `export { ${name} } from './src/${file}'`).join('\n'),
    resolveDir: root,
    sourcefile: `${bin}-entry.ts`,
    loader: 'ts',
  },
  outfile: `${root}${bundles[i]}`,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // etcd3 reads its .proto files from its own folder when loaded: a package, unless bundled with them (./etcd-bundle.js).
  external: etcd === undefined ? ['etcd3'] : [],
  plugins: [...(etcd === undefined ? [] : [etcdProtoPlugin(etcd)]), ...(apart === undefined ? [] : [apartPlugin(apart)])],
  // Our code finds its files from import.meta.url; a CommonJS file has __filename.
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
})))
for (const [i, [, { codeCache = true, train }]] of Object.entries(BINS).entries()) {
  const bundle = bundles[i]
  rmSync(`${root}${bundle}.cache`, { force: true })
  if (!codeCache) continue
  const made = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--cache', bundle, ...(train === undefined ? [] : [train])], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (made.status !== 0) throw new Error(`the code cache of ${bundle} was not made`)
}
