#!/usr/bin/env node
// machined-spawn: run a command or boot an OS tree in a container; see `machined-spawn --help`.
'use strict'
const { main, recordExitStatus, takeExitStatusFile } = require('./load-bundle.js').loadBundle('dist/spawn/machined-spawn.bundle.cjs').exports

// Run by machined-ts's supervisor: it learns how we ended from this file (src/linux/exit-status.ts).
const statusFile = takeExitStatusFile()

void main(process.argv.slice(2)).then((code) => {
  recordExitStatus(statusFile, code)
  process.exitCode = code
  // The bus connection and the console are closed by then; anything left would keep us alive.
  process.exit(code)
})
