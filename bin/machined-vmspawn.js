#!/usr/bin/env node
// Runs a VM in qemu and registers it with machined; see `machined-vmspawn --help`.
import { main } from '../dist/vmspawn/main.js'

const code = await main(process.argv.slice(2))
// The QMP socket, the signal pipe and the machined connection are done with by now.
process.exit(code)
