#!/usr/bin/env node
// machined-web, the web console and metrics; see `machined-web --help`.
'use strict'
const { main } = require('./load-bundle.js').loadBundle('dist/web/machined-web.bundle.cjs').exports

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
  // The server, the daemon connections and the timers are closed by then.
  process.exit(code)
})
