#!/usr/bin/env node
// Runs a VM in qemu and registers it with machined; see `machined-vmspawn --help`.
import { main } from '../dist/vmspawn/main.js'
import { recordExitStatus, takeExitStatusFile } from '../dist/linux/exit-status.js'

// Run by machined-ts's supervisor: it learns how we ended from this file (src/linux/exit-status.ts).
const statusFile = takeExitStatusFile()

const code = await main(process.argv.slice(2))
recordExitStatus(statusFile, code)
// The QMP socket, the signal pipe and the machined connection are done with by now.
process.exit(code)
