#!/usr/bin/env node
// The machined daemon; see `machined --help`.
import { main } from '../dist/daemon/main.js'

const code = await main(process.argv.slice(2))
process.exitCode = code
// Connections and timers are closed by then; anything left would keep us alive.
process.exit(code)
