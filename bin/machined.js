#!/usr/bin/env node
// The machined daemon; see `machined --help`.
'use strict'
// Before the daemon's bundle loads, which would otherwise grow V8's young
// generation for good: the same flag as src/daemon/heap.ts sets, set here
// because that module is inside the bundle.
require('node:v8').setFlagsFromString('--semi-space-growth-factor=1')
const { main } = require('./load-bundle.js').loadBundle('dist/daemon/machined.bundle.cjs').exports

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
  // Connections and timers are closed by then; anything left would keep us alive.
  process.exit(code)
})
