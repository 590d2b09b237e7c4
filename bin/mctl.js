#!/usr/bin/env node
// mctl, machinectl's machine verbs for machined; see `mctl --help`.
'use strict'
const { runMctl } = require('./load-bundle.js').loadBundle('dist/cli/mctl.bundle.cjs').exports

void runMctl(process.argv.slice(2)).then((code) => {
  process.exitCode = code
  process.exit(code)
})
