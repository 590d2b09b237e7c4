#!/usr/bin/env node
// The machined daemon; see `machined --help`.
import { keepYoungGenerationSmall } from '../dist/daemon/heap.js'

// Before the daemon's modules load, which would otherwise grow V8's young generation for good (src/daemon/heap.ts).
keepYoungGenerationSmall()
const { main } = await import('../dist/daemon/main.js')
const code = await main(process.argv.slice(2))
process.exitCode = code
// Connections and timers are closed by then; anything left would keep us alive.
process.exit(code)
