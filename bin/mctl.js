#!/usr/bin/env node
// mctl, machinectl's machine verbs for machined; see `mctl --help`.
import { main } from '../dist/cli/main.js'

// A reader that went away (`mctl list | head -1`) is not worth a stack trace.
process.stdout.on('error', () => process.exit(process.exitCode ?? 0))
const code = await main(process.argv.slice(2))
process.exitCode = code
// Files take stdout synchronously; a pipe may not (Node 20 queues what the
// reader has not taken yet: a fleet of 10,000 machines is more than a pipe holds).
if (process.stdout.writableLength > 0) {
  await new Promise((resolve) => { process.stdout.once('drain', resolve); process.stdout.once('close', resolve) })
}
process.exit(code)
