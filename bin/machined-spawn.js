#!/usr/bin/env node
// machined-spawn: run a command or boot an OS tree in a container; see `machined-spawn --help`.
import { main } from '../dist/spawn/main.js'

const code = await main(process.argv.slice(2))
process.exitCode = code
// The bus connection and the console are closed by then; anything left would keep us alive.
process.exit(code)
