#!/usr/bin/env node
// machined-spawn: run a command or boot an OS tree in a container; see `machined-spawn --help`.
import { main } from '../dist/spawn/main.js'
import { recordExitStatus, takeExitStatusFile } from '../dist/linux/exit-status.js'

// Run by machined-ts's supervisor: it learns how we ended from this file (src/linux/exit-status.ts).
const statusFile = takeExitStatusFile()

const code = await main(process.argv.slice(2))
recordExitStatus(statusFile, code)
process.exitCode = code
// The bus connection and the console are closed by then; anything left would keep us alive.
process.exit(code)
