#!/usr/bin/env node
// mctl, machinectl's machine verbs for machined; see `mctl --help`.
'use strict'

const argv = process.argv.slice(2)
if (argv.length === 1 && argv[0] === '--version') {
  // The one call that needs none of mctl's verbs: answered from a small
  // bundle of its own (the same versionText() and stdout writer as mctl's),
  // a few ms sooner than loading all of mctl (bench/README.md). A plain
  // require(): for 3 KiB, reading and checking a code cache costs more
  // (about 0.8 ms) than compiling.
  const { versionText, processIo } = require('../dist/cli/mctl-version.bundle.cjs')
  const io = processIo()
  io.out(versionText(require('node:path').basename(process.argv[1] ?? 'mctl').replace(/\.js$/, '')))
  void io.drained().then(() => process.exit(0))
} else if (argv.length === 0 || (argv.length === 1 && argv[0] === 'list')) {
  // `mctl list`: answered from a bundle of the list verb alone when io.systemd.Machine answers it
  // (src/cli/quick-list.ts); when it cannot, it has printed nothing and all of mctl runs.
  const { quickList, processIo } = require('./load-bundle.js').loadBundle('dist/cli/mctl-list.bundle.cjs').exports
  const io = processIo()
  void quickList(argv, io).then(async (code) => {
    if (code === undefined) return runMctl()
    await io.drained()
    process.exit(code)
  })
} else {
  runMctl()
}

function runMctl() {
  // Required here, not above: --version needs none of it.
  void require('./load-bundle.js').loadBundle('dist/cli/mctl.bundle.cjs').exports.runMctl(argv).then((code) => {
    process.exitCode = code
    process.exit(code)
  })
}
