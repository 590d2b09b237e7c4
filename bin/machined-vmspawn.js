#!/usr/bin/env node
// Runs a VM in qemu and registers it with machined; see `machined-vmspawn --help`.
'use strict'
const { main, recordExitStatus, takeExitStatusFile } = require('./load-bundle.js').loadBundle('dist/vmspawn/machined-vmspawn.bundle.cjs').exports

// Run by machined-ts's supervisor: it learns how we ended from this file (src/linux/exit-status.ts).
const statusFile = takeExitStatusFile()

void main(process.argv.slice(2)).then((code) => {
  recordExitStatus(statusFile, code)
  // The QMP socket, the signal pipe and the machined connection are done with by now.
  process.exit(code)
})
