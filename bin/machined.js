#!/usr/bin/env node
// The machined daemon; see `machined --help`.
'use strict'
const { main } = require('./load-bundle.js').loadBundle('dist/daemon/machined.bundle.cjs').exports

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
  // Connections and timers are closed by then; anything left would keep us alive.
  process.exit(code)
})
