#!/usr/bin/env node
// machined-web, the web console and metrics; see `machined-web --help`.
import { main } from '../dist/web/main.js'

const code = await main(process.argv.slice(2))
process.exitCode = code
// The server, the daemon connections and the timers are closed by then.
process.exit(code)
