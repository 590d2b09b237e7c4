#!/usr/bin/env node
// mctl, machinectl's machine verbs for machined; see `mctl --help`.
import { main } from '../dist/cli/main.js'

// A reader that went away (`mctl list | head -1`) is not worth a stack trace.
process.stdout.on('error', () => process.exit(process.exitCode ?? 0))
const code = await main(process.argv.slice(2))
process.exitCode = code
// Pipes and files take stdout synchronously on Linux; nothing is left to flush.
process.exit(code)
